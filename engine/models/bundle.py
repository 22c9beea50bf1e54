"""Loading a model bundle into an evaluation-only, gradient-free ``torch.nn.Module``.

A bundle is a folder with ``model.json`` (see :class:`ModelManifest`) and a weights file:

* ``weights.safetensors`` holding a torchvision ``state_dict`` (preferred);
* a plain ``state_dict`` saved with ``torch.save`` (``*.pt``/``*.pth``), read with
  ``torch.load(weights_only=True)`` so no arbitrary object is ever unpickled;
* a TorchScript archive when ``architecture`` is ``"torchscript"``.

Nothing else is accepted. The module returned is in eval mode and its parameters do not
require gradients; explainers never mutate it.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.atomic import atomic_open, atomic_write_text
from engine.errors import (
    BundleManifestError,
    ModelError,
    UnsafeModelFileError,
    WeightsMismatchError,
)
from engine.models.manifest import DEFAULT_BUNDLE_DIR, SCHEMA_VERSION, ModelManifest, bundle_folder, default_bundle_path
from engine.runtime import resolve_device

__all__ = ["DEFAULT_BUNDLE_DIR", "SCHEMA_VERSION", "LoadedModel", "ModelManifest", "default_bundle_path",
           "load_model", "save_bundle"]


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A validated model, ready for inference and explanation.

    Attributes:
        module: The network, in eval mode, parameters frozen.
        manifest: What ``model.json`` says.
        weights_sha256: SHA-256 of the weights file as read from disk.
        path: The bundle folder (None for models built in memory).
        device: Where ``module`` lives.
    """

    module: nn.Module
    manifest: ModelManifest
    weights_sha256: str
    path: Path | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.manifest.class_names

    @property
    def is_torchscript(self) -> bool:
        return self.manifest.architecture == "torchscript"

    def identity(self) -> dict[str, Any]:
        """Name, version, architecture and weights hash: recorded with every result."""
        return {
            "name": self.manifest.name,
            "version": self.manifest.version,
            "architecture": self.manifest.architecture,
            "task": self.manifest.task,
            "weights_sha256": self.weights_sha256,
            "path": str(self.path) if self.path else None,
        }

    def to(self, device: str | torch.device) -> LoadedModel:
        """The same model on another device (a new object; this one is untouched)."""
        dev = resolve_device(device)
        if dev == self.device:
            return self
        module = self.module.to(dev) if self.is_torchscript else _copy_module(self.module).to(dev)
        return LoadedModel(module, self.manifest, self.weights_sha256, self.path, dev)

    @classmethod
    def from_module(
        cls, module: nn.Module, manifest: ModelManifest, *, device: str | torch.device = "cpu"
    ) -> LoadedModel:
        """Wrap an in-memory module (tests, training) as a loaded model.

        The module is frozen and put in eval mode in place: pass a copy to keep the original.
        The "weights hash" is the hash of its state_dict tensors.
        """
        dev = resolve_device(device)
        module = module.to(dev).eval()
        for p in module.parameters():
            p.requires_grad_(False)
        return cls(module, manifest, state_dict_sha256(module.state_dict()), None, dev)


def _copy_module(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module)


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """Hash of a state_dict's names, dtypes, shapes and bytes (independent of file format)."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous().reshape(-1)
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Load and validate a model bundle.

    Args:
        path: The bundle folder, its ``model.json``, or ``"default"`` for the bundled model.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when available).

    Returns:
        The loaded model, in eval mode with frozen parameters.

    Raises:
        BundleManifestError: ``model.json`` is missing or invalid.
        UnknownArchitectureError: the architecture cannot be built (unknown torchvision or timm name,
            or a ``timm:`` name that would read from a hub).
        WeightsMismatchError: the weights do not fit the architecture or the class list.
        UnsafeModelFileError: the weights file would need unpickling arbitrary objects.
    """
    bundle = bundle_folder(path)
    manifest = ModelManifest.read(bundle / "model.json")
    weights_path = bundle / manifest.weights
    if not weights_path.is_file():
        raise BundleManifestError(
            f"weights file '{manifest.weights}' named in model.json is missing.", path=bundle,
            fix="put the weights beside model.json or correct its 'weights' entry.",
        )
    dev = resolve_device(device)
    sha = file_sha256(weights_path)
    if manifest.architecture == "torchscript":
        module = _load_torchscript(weights_path, manifest)
    else:
        state = _read_state_dict(weights_path)
        module = build_architecture(manifest, path=bundle)
        from engine.models.architectures import adapt_state_dict

        _load_checked(module, adapt_state_dict(module, state), manifest, weights_path)
    module = module.to(dev).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return LoadedModel(module, manifest, sha, bundle, dev)


def build_architecture(manifest: ModelManifest, *, path: Path | None = None) -> nn.Module:
    """Build the untrained network the manifest names (torchvision or ``timm:NAME``), sized to its classes."""
    from engine.models.architectures import build_architecture as build

    return build(manifest, path=path)


def _set_input_channels(module: nn.Module, channels: int) -> None:
    """Replace the first convolution so the network takes ``channels`` input channels (kept for callers)."""
    from engine.models.architectures import set_input_channels

    set_input_channels(module, channels)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsMismatchError(
                f"cannot read safetensors weights ({exc}).", path=path,
                fix="re-export the weights with safetensors.torch.save_file.",
            ) from exc
    if suffix in (".pt", ".pth", ".bin"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise UnsafeModelFileError(
                "the file holds pickled Python objects, not only tensors; RadLens never "
                "unpickles untrusted files.", path=path,
                fix="save a plain state_dict (torch.save(model.state_dict(), ...)) or, better, "
                "safetensors.",
            ) from exc
        except (RuntimeError, OSError, EOFError) as exc:
            raise WeightsMismatchError(f"cannot read weights ({exc}).", path=path) from exc
        if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
            obj = obj["state_dict"]
        if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise WeightsMismatchError(
                "the file is not a state_dict (a mapping of names to tensors).", path=path,
                fix="save model.state_dict(), not the model object.",
            )
        return {str(k).removeprefix("module."): v for k, v in obj.items()}
    raise WeightsMismatchError(
        f"unsupported weights file type '{suffix}'.", path=path,
        fix="use .safetensors (preferred), a state_dict .pt, or a TorchScript archive.",
    )


def _load_checked(
    module: nn.Module, state: Mapping[str, torch.Tensor], manifest: ModelManifest, path: Path
) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape)
    )
    if not (missing or unexpected or mismatched):
        module.load_state_dict(state, strict=True)
        return
    problems: list[str] = []
    head = _head_weight_key(module)
    if head in mismatched:
        problems.append(
            f"the classifier head has {state[head].shape[0]} outputs but model.json lists "
            f"{manifest.num_classes} class_names"
        )
        mismatched.remove(head)
        bias = head.rsplit(".", 1)[0] + ".bias"
        if bias in mismatched:
            mismatched.remove(bias)
    if mismatched:
        shown = ", ".join(
            f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}" for k in mismatched[:5]
        )
        problems.append(f"{len(mismatched)} tensors have the wrong shape ({shown})")
    if missing:
        problems.append(f"{len(missing)} missing tensors ({', '.join(missing[:5])}...)")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors ({', '.join(unexpected[:5])}...)")
    from engine.models.architectures import head_hint

    raise WeightsMismatchError(
        f"weights do not fit architecture '{manifest.architecture}': " + "; ".join(problems) + ".",
        path=path,
        fix=head_hint(manifest, state, expected) or "check 'architecture', 'in_channels' and 'class_names' in "
        "model.json against the weights.",
    )


def _head_weight_key(module: nn.Module) -> str | None:
    last = None
    for name, child in module.named_modules():
        if isinstance(child, nn.Linear | nn.Conv2d):
            last = name
    return f"{last}.weight" if last is not None else None


def _load_torchscript(path: Path, manifest: ModelManifest) -> nn.Module:
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(
            f"cannot load TorchScript archive ({exc}).", path=path,
            fix="export with torch.jit.script/trace and torch.jit.save.",
        ) from exc
    return module


def save_bundle(
    folder: str | Path, module: nn.Module, manifest: ModelManifest, *, overwrite: bool = False,
    weights_dtype: torch.dtype | None = None,
) -> Path:
    """Write ``module``'s weights (safetensors) and ``manifest`` as a bundle folder.

    Files are written atomically; an existing bundle is replaced only with ``overwrite``.
    ``weights_dtype=torch.float16`` stores floating tensors at half size (they are converted back
    to the architecture's dtype when loaded); integer buffers are kept as they are.
    """
    from safetensors.torch import save

    folder = Path(folder)
    if (folder / "model.json").exists() and not overwrite:
        raise ModelError("a bundle already exists here.", path=folder, fix="pass overwrite=True.")
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    if weights_dtype is not None:
        state = {k: v.to(weights_dtype) if v.is_floating_point() else v for k, v in state.items()}
    with atomic_open(folder / manifest.weights, "wb") as handle:
        # one metadata key only: safetensors orders several keys differently from run to run,
        # which would change the file hash of identical weights
        handle.write(save(state, metadata={"format": "pt"}))
    atomic_write_text(folder / "model.json", json.dumps(manifest.to_dict(), indent=2) + "\n")
    return folder
