"""``radlens bundle check``: every problem of a bundle at once, each with its fix.

Unlike :func:`engine.models.bundle.load_model`, which stops at the first refusal, the check goes
on as far as it can: the manifest field by field, the weights file, non-finite weights, missing,
unexpected and mis-shaped tensors, the head against the classes. The forward pass on a synthetic
image and the CAM layers need the explainers (a layer above this one): :func:`engine.cli.bundle.check`
adds them.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.errors import RadLensError

_MANIFEST_FIXES = (
    ("mean", "give one number, or one per input channel (in_channels), for mean and std"),
    ("std", "give one positive number, or one per input channel (in_channels), for std"),
    ("thresholds", "give one probability in [0, 1] per class, in class order (or an object by class name)"),
    ("class_names", "list one unique name per output of the head, in output order"),
    ("in_channels", "set in_channels to 1 or 3, as the first convolution of the checkpoint takes"),
    ("input_size", "give input_size as [height, width], e.g. [224, 224]"),
    ("task", "set task to multilabel or multiclass"),
    ("resize", "set resize to stretch or letterbox"),
    ("head", "remove 'head' (the architecture's own head) or set it to \"gap\" for a VGG-GAP"),
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle and what to do about it."""

    what: str
    fix: str


@dataclass
class BundleCheck:
    """The outcome of :func:`check_bundle`.

    Attributes:
        path: The bundle folder.
        problems: Everything wrong, in the order found.
        output_shape: Shape of the forward pass's output (None when it did not run).
        probability_range: Smallest and largest probability of that output.
        layers: ``(name, type, output shape, is default)`` of the layers CAM methods can use.
        info: What was read (architecture, classes, weights hash...).
        module: The network with the bundle's weights, when they load (for the forward pass).
        manifest: The manifest read (a lenient one when model.json has errors), or None.
    """

    path: Path
    problems: list[Problem] = field(default_factory=list)
    output_shape: tuple[int, ...] | None = None
    probability_range: tuple[float, float] | None = None
    layers: list[tuple[str, str, tuple[int, ...], bool]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    module: torch.nn.Module | None = None
    manifest: Any = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, what: str, fix: str) -> None:
        self.problems.append(Problem(what, fix))

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "ok": self.ok, "info": self.info,
            "problems": [{"problem": p.what, "fix": p.fix} for p in self.problems],
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "probability_range": list(self.probability_range) if self.probability_range else None,
            "layers": [{"name": n, "type": t, "output_shape": list(s), "default": d} for n, t, s, d in self.layers],
        }


def _manifest_fix(problem: str) -> str:
    for key, fix in _MANIFEST_FIXES:
        if problem.startswith(key) or f"'{key}'" in problem:
            return fix
    return "correct model.json (see docs/model-bundles.md)"


def _manifest(report: BundleCheck, data: Mapping[str, Any]) -> Any:
    """The manifest, or a lenient one (invalid optional fields dropped) to go on checking the weights."""
    from engine.errors import BundleManifestError
    from engine.models.manifest import ModelManifest

    known = {f.name for f in dataclasses.fields(ModelManifest)}
    unknown = sorted(set(data) - known)
    if unknown:  # from_dict stops at unknown keys; report them and check the rest
        close = {k: difflib.get_close_matches(k, sorted(known), n=1) for k in unknown}
        hint = ", ".join(f"'{k}' -> '{c[0]}'" for k, c in close.items() if c)
        report.add(f"model.json: unknown keys {unknown}.",
                   f"correct the misspelt keys ({hint})." if hint else "remove them (see docs/model-bundles.md).")
        data = {k: v for k, v in data.items() if k in known}
    try:
        return ModelManifest.from_dict(data)
    except BundleManifestError as exc:
        listing = exc.problem.removeprefix("invalid model manifest: ").rstrip(".")
        for item in re.split(r"; (?=[a-z])", listing):
            report.add(f"model.json: {item}.", _manifest_fix(item) + ".")
    core = ("name", "version", "architecture", "class_names", "in_channels", "input_size", "weights", "target_layer",
            "head")
    lenient = {k: data[k] for k in core if k in data}
    without_head = {k: v for k, v in lenient.items() if k != "head"}
    for attempt in (lenient, without_head, {k: v for k, v in lenient.items() if k not in ("in_channels", "input_size")},
                    {k: v for k, v in without_head.items() if k not in ("in_channels", "input_size")}):
        try:
            return ModelManifest.from_dict(attempt)
        except BundleManifestError:
            continue
    return None


def check_bundle(path: str | Path) -> BundleCheck:
    """Check a bundle folder and report every problem found, each with its fix."""
    from engine.models.manifest import bundle_folder

    folder = bundle_folder(path)
    report = BundleCheck(folder)
    try:
        data = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        report.add("model.json is missing.", "a bundle is a folder holding model.json and its weights; "
                   "radlens bundle create writes both.")
        return report
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.add(f"model.json cannot be parsed ({exc}).", "repair the JSON.")
        return report
    if not isinstance(data, dict):
        report.add("model.json does not hold a JSON object.",
                   "write the manifest as an object (docs/model-bundles.md).")
        return report
    manifest = _manifest(report, data)
    if manifest is None:
        return report
    report.info.update(architecture=manifest.architecture, classes=list(manifest.class_names),
                       in_channels=manifest.in_channels, input_size=list(manifest.input_size), task=manifest.task)
    report.module = _weights(report, folder, manifest)
    report.manifest = manifest
    return report


def _weights(report: BundleCheck, folder: Path, manifest: Any) -> torch.nn.Module | None:
    from engine.models.bundle import _head_weight_key, _read_state_dict, build_architecture, file_sha256

    weights = folder / manifest.weights
    if not weights.is_file():
        report.add(f"the weights file '{manifest.weights}' named in model.json is missing.",
                   "put the weights beside model.json, or correct its 'weights' entry.")
        return None
    report.info["weights_sha256"] = file_sha256(weights)
    if manifest.architecture == "torchscript":
        report.add("a TorchScript bundle cannot be checked tensor by tensor.",
                   "use a state_dict bundle (radlens bundle create).")
        return None
    try:
        state = _read_state_dict(weights)
    except RadLensError as exc:
        report.add(exc.problem, exc.fix or "re-create the bundle with radlens bundle create.")
        return None
    bad = {k: int((~torch.isfinite(v)).sum()) for k, v in state.items() if v.is_floating_point()}
    bad = {k: n for k, n in bad.items() if n}
    if bad:
        shown = ", ".join(f"{k} ({n})" for k, n in list(bad.items())[:5])
        report.add(f"{len(bad)} tensor(s) hold NaN or infinite values: {shown}.",
                   "the training diverged or the file is damaged: export the weights of a good epoch.")
    try:
        module = build_architecture(manifest, path=folder)
    except RadLensError as exc:
        report.add(exc.problem, exc.fix or "correct 'architecture' in model.json.")
        return None
    names = sorted(n for n, _ in module.named_modules() if n)
    if manifest.target_layer and manifest.target_layer not in names:
        close = difflib.get_close_matches(manifest.target_layer, names, n=3)
        report.add(f"target_layer '{manifest.target_layer}' is not a layer of '{manifest.architecture}'"
                   + (f" (close: {', '.join(close)})." if close else "."),
                   "set target_layer to a layer radlens layers lists, or remove it to use the last spatial layer.")
    expected = module.state_dict()
    head = _head_weight_key(module)
    shapes_ok = True
    if head and head in state and state[head].shape[0] != expected[head].shape[0]:
        shapes_ok = False
        report.add(f"the head '{head.rsplit('.', 1)[0]}' has {state[head].shape[0]} outputs but model.json lists "
                   f"{manifest.num_classes} class_names.",
                   f"list exactly {state[head].shape[0]} class names, in the head's output order.")
    conv = _first_conv(module)
    if conv and conv in state and state[conv].ndim == 4 and state[conv].shape[1] != manifest.in_channels:
        shapes_ok = False
        report.add(f"the first convolution '{conv}' takes {state[conv].shape[1]} channel(s) but in_channels is "
                   f"{manifest.in_channels}.", f"set in_channels to {state[conv].shape[1]} in model.json.")
    skip = {head, head.rsplit(".", 1)[0] + ".bias", conv} if head else {conv}
    wrong = sorted(k for k in set(expected) & set(state)
                   if k not in skip and tuple(expected[k].shape) != tuple(state[k].shape))
    if wrong:
        shapes_ok = False
        report.add(f"{len(wrong)} tensor(s) have another shape than the architecture's: " + ", ".join(
            f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in wrong[:5]) + ".",
            "check 'architecture' against the network the weights were trained as.")
    missing = sorted(set(expected) - set(state))
    if missing:
        report.add(f"{len(missing)} tensor(s) of the architecture are missing from the weights: "
                   f"{', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}.",
                   "re-create the bundle from the full checkpoint, or check 'architecture'.")
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        report.add(f"{len(unexpected)} tensor(s) in the weights have no place in the architecture: "
                   f"{', '.join(unexpected[:5])}{', ...' if len(unexpected) > 5 else ''}.",
                   "check 'architecture'; radlens bundle create removes wrapper prefixes such as 'module.'.")
    from engine.models.architectures import head_hint

    hint = head_hint(manifest, state, expected)
    if hint is not None:
        said = f"head '{manifest.head}'" if manifest.head else "no head (the architecture's own)"
        report.add(f"model.json names {said}, but the weights were saved with the other head.", hint)
    if missing or unexpected or not shapes_ok:
        return None
    module.load_state_dict(state, strict=True)
    return module.eval()


def _first_conv(module: torch.nn.Module) -> str | None:
    from engine.models.create import first_conv_key

    return first_conv_key(module)
