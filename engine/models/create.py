"""``radlens bundle create``: a model bundle from a researcher's checkpoint.

The architecture is built by the bundle factory (:func:`engine.models.bundle.build_architecture`, the
one ``load_model`` uses), the checkpoint is read without unpickling (:mod:`engine.models.checkpoint`),
its names are fitted, its head and first convolution are checked against the classes and channels
asked for, and the bundle (``model.json`` + ``weights.safetensors``) is written into a fresh folder
that replaces ``out`` only once it loads.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import BundleManifestError, ModelError, WeightsMismatchError
from engine.models.bundle import _head_weight_key, build_architecture, file_sha256, load_model, save_bundle
from engine.models.checkpoint import Remapped, read_checkpoint, remap_names
from engine.models.manifest import ModelManifest


@dataclass(frozen=True)
class CreatedBundle:
    """What :func:`create_bundle` wrote.

    Attributes:
        path: The bundle folder.
        manifest: Its manifest.
        removed_prefixes: Prefixes stripped from the checkpoint's names.
        ignored: Checkpoint tensors outside the model (kept out of the bundle).
        notes: What was inferred (e.g. ``in_channels`` from the checkpoint).
    """

    path: Path
    manifest: ModelManifest
    removed_prefixes: tuple[str, ...]
    ignored: tuple[str, ...]
    notes: tuple[str, ...]


def parse_classes(value: str) -> tuple[str, ...]:
    """Class names from ``a,b,c`` or a file: one name a line, or a JSON list.

    Raises:
        BundleManifestError: The list is empty.
    """
    path = Path(value)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("["):
            import json

            names = [str(n).strip() for n in json.loads(text)]
        else:
            names = [line.strip() for line in text.splitlines()]
    else:
        names = [n.strip() for n in value.split(",")]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        raise BundleManifestError(f"no class names in {value!r}.",
                                  fix="give a,b,c or a file with one class name a line.")
    return tuple(names)


def first_conv_key(module: nn.Module) -> str | None:
    """Name of the weight of the first ``Conv2d`` (the one that takes the image)."""
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d):
            return f"{name}.weight"
    return None


def create_bundle(
    architecture: str, weights: str | Path, classes: Sequence[str], out: str | Path, *,
    input_size: tuple[int, int] | None = None, in_channels: int | None = None, task: str = "multilabel",
    mean: Sequence[float] | None = None, std: Sequence[float] | None = None, resize: str = "stretch",
    name: str | None = None, version: str = "1.0", target_layer: str | None = None, half: bool = False,
    force: bool = False, command: str = "", head: str | None = None,
) -> CreatedBundle:
    """Build a bundle from a checkpoint.

    Args:
        architecture: A name the bundle factory builds (a torchvision classification model, ...).
        weights: The checkpoint (``.safetensors``, or a ``state_dict`` in ``.pth``/``.pt``/``.ckpt``).
        classes: One name per output of the head, in output order.
        out: The bundle folder to write; a non-empty one is replaced only with ``force``.
        input_size: ``(height, width)``; default 224 x 224.
        in_channels: 1 or 3; default: what the checkpoint's first convolution takes.
        task, mean, std, resize, name, version, target_layer, head: ``model.json`` fields (``head``:
            None for the architecture's own head, ``"gap"`` for a VGG-GAP checkpoint).
        half: Store float16 weights (half the size).
        force: Replace a non-empty ``out``.
        command: The command line, recorded in the provenance.

    Raises:
        BundleManifestError: A manifest field is invalid (every problem listed).
        UnknownArchitectureError: The factory cannot build ``architecture``.
        UnsafeModelFileError: The checkpoint holds pickled objects.
        WeightsMismatchError: The checkpoint does not fit (head size, channels, names, shapes).
        ModelError: ``out`` is not empty and ``force`` is not given.
    """
    src = Path(weights)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise ModelError("the output folder is not empty.", path=out,
                         fix="choose a new folder, or pass --force to replace it.")
    ckpt = read_checkpoint(src)
    notes: list[str] = []
    data: dict[str, Any] = {
        "name": name or f"{architecture.replace(':', '-')} ({src.stem})", "version": version,
        "architecture": architecture, "class_names": list(classes), "task": task, "resize": resize,
        "input_size": list(input_size or (224, 224)),
    }
    if head:
        data["head"] = head
    probe = ModelManifest.from_dict({**data, "in_channels": in_channels or 3})
    module = build_architecture(probe, path=src)
    conv = first_conv_key(module)
    fitted = remap_names(ckpt.state, set(module.state_dict()))
    stored = fitted.state.get(conv) if conv else None
    if stored is not None and stored.ndim == 4:
        have = int(stored.shape[1])
        if in_channels is None:
            in_channels = have
            notes.append(f"in_channels {have} taken from the checkpoint's first convolution '{conv}'")
        elif have != in_channels:
            raise WeightsMismatchError(
                f"the checkpoint's first convolution '{conv}' takes {have} input channel(s), but --in-channels "
                f"{in_channels} was asked; RadLens does not adapt pretrained weights silently.", path=src,
                fix=f"pass --in-channels {have} (grey images are repeated to {have} channels when needed), or "
                "convert the convolution yourself (e.g. sum its weights over the input channels for 3 -> 1) and "
                "save that state_dict.")
    data["in_channels"] = in_channels or 3
    if mean is not None:
        data["mean"] = list(mean)
    if std is not None:
        data["std"] = list(std)
    if target_layer:
        data["target_layer"] = target_layer
    data["provenance"] = _provenance(src, ckpt.wrapper, fitted, command)
    manifest = ModelManifest.from_dict(data)
    if manifest.in_channels != probe.in_channels:
        module = build_architecture(manifest, path=src)
    state = _fit_state(module, fitted, manifest, src)
    module.load_state_dict(state, strict=True)
    if target_layer and target_layer not in dict(module.named_modules()):
        raise BundleManifestError(f"the architecture has no layer '{target_layer}'.", path=src,
                                  fix="run radlens layers on the bundle without --target-layer to see the names.")
    written = _write_atomically(out, module, manifest, half=half, force=force)
    return CreatedBundle(written, manifest, fitted.removed_prefixes, fitted.outside, tuple(notes))


def _provenance(src: Path, wrapper: tuple[str, ...], fitted: Remapped, command: str) -> dict[str, Any]:
    return {
        "created_by": "radlens bundle create",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {
            "file": src.name, "sha256": file_sha256(src), "wrapper_keys": list(wrapper),
            "removed_prefixes": list(fitted.removed_prefixes), "ignored_tensors": list(fitted.outside),
        },
        "command": command,
    }


def _fit_state(module: nn.Module, fitted: Remapped, manifest: ModelManifest, src: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors for ``module``, or an error naming what does not fit."""
    expected = module.state_dict()
    state = dict(fitted.state)
    for key in fitted.outside:  # tensors beside the model in its wrapper (a loss's buffers...)
        if key not in expected:
            state.pop(key)
    head = _head_weight_key(module)
    if head and head in state and head in expected and state[head].shape[0] != expected[head].shape[0]:
        have = int(state[head].shape[0])
        raise WeightsMismatchError(
            f"the checkpoint's head '{head.rsplit('.', 1)[0]}' has {have} outputs, but {manifest.num_classes} "
            f"classes were given ({', '.join(manifest.class_names[:8])}"
            f"{', ...' if manifest.num_classes > 8 else ''}).", path=src,
            fix=f"give the {have} class names in the head's output order (--classes a,b,c or a file), "
            "or check --architecture.")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if not (missing or unexpected or wrong):
        return state
    parts = []
    if missing:
        parts.append(f"{len(missing)} of the architecture's tensors are not in the checkpoint "
                     f"({', '.join(missing[:4])}...)")
    if unexpected:
        parts.append(f"{len(unexpected)} checkpoint tensors have no place in it ({', '.join(unexpected[:4])}...)")
    if wrong:
        parts.append("shapes differ: " + ", ".join(
            f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in wrong[:4]))
    removed = f" after removing the prefixes {list(fitted.removed_prefixes)}" if fitted.removed_prefixes else ""
    raise WeightsMismatchError(
        f"the checkpoint does not fit architecture '{manifest.architecture}'{removed}: " + "; ".join(parts) + ".",
        path=src, fix="check --architecture (e.g. resnet18 vs resnet34) against how the network was trained.")


def _write_atomically(out: Path, module: nn.Module, manifest: ModelManifest, *, half: bool, force: bool) -> Path:
    """Write the bundle into a fresh sibling folder, load it back, then put it in place of ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    old: Path | None = None
    try:
        save_bundle(tmp, module, manifest, weights_dtype=torch.float16 if half else None)
        load_model(tmp)  # the bundle must load as written
        if out.exists():
            if any(out.iterdir()) and not force:
                raise ModelError("the output folder is not empty.", path=out, fix="pass --force to replace it.")
            old = out.with_name(f".{out.name}.old-{tmp.name[-12:]}")
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists():
            old.rename(out)
        raise
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)
    return out
