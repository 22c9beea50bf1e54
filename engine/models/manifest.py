"""``model.json``: the manifest of a model bundle, validated field by field."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import BundleManifestError, ModelError, RadLensError

SCHEMA_VERSION = 1
#: The source checkout's model folder, kept for old callers; the bundled models are found with
#: :func:`engine.resources.models_dir` (:data:`DEFAULT_BUNDLE_NAME` in it is the default).
DEFAULT_BUNDLE_DIR = Path(__file__).resolve().parents[2] / "resources" / "models"
#: The bundled default model's folder under :data:`DEFAULT_BUNDLE_DIR`.
DEFAULT_BUNDLE_NAME = "phantom-resnet18"
TASKS = ("multilabel", "multiclass", "regression")
#: Keys of one entry of a regression bundle's ``outputs`` list (``name`` required).
OUTPUT_KEYS = ("name", "unit", "description")
RESIZE_POLICIES = ("stretch", "letterbox")
#: Values of ``head``: ``"gap"`` replaces a VGG's (or AlexNet's) fully-connected classifier by
#: global average pooling and one linear layer (VGG-GAP, Zhou et al. 2016, the CAM paper).
HEADS = ("gap",)


@dataclass(frozen=True)
class ModelManifest:
    """What a bundle's ``model.json`` says about its model.

    Attributes:
        name: Human name of the model, shown in the viewer and reports.
        version: The model's own version string.
        architecture: A torchvision classification model name (``resnet18``...) or
            ``"torchscript"``.
        class_names: One name per output of the classifier head, in output order. Regression
            bundles may leave it out: it is then the ``outputs``' names.
        task: ``"multilabel"`` (sigmoid per class), ``"multiclass"`` (softmax) or
            ``"regression"`` (the raw outputs are the predicted values, no sigmoid/softmax).
        in_channels: Channels the network takes (1 or 3).
        input_size: ``(height, width)`` of the network input.
        resize: ``"stretch"`` (the image fills the input) or ``"letterbox"`` (aspect kept,
            padded with black).
        mean: Per-channel normalisation mean, applied to pixels in [0, 1].
        std: Per-channel normalisation standard deviation.
        target_layer: Default layer for CAM methods (a module name), or None to find one.
        method: The explanation method the bundle is best explained with (a ``radlens explain
            --list-methods`` name), used when the user names none; None: Grad-CAM. E.g. the
            phantom CTR model's "raises the ratio" evidence lies on the heart borders, which
            LayerCAM shows and Grad-CAM's channel averaging hides (docs/regression.md).
        thresholds: Per-class decision thresholds on the probability.
        weights: File name of the weights inside the bundle.
        provenance: Free-form record of training data, metrics and recipe.
        description: One paragraph for the model card.
        schema_version: Version of this manifest format.
        outputs: Regression only: one ``{"name", "unit", "description"}`` object per network
            output, in output order (``unit`` and ``description`` optional, e.g.
            ``{"name": "Cardiothoracic ratio", "unit": "ratio"}``); the network's raw output is
            the value in that unit (fold any target standardisation into the last layer).
        head: None (the architecture's own classifier head) or ``"gap"``: a torchvision VGG's or
            AlexNet's fully-connected ``classifier`` becomes one ``Linear(C, num_classes)`` after
            global average pooling (VGG-GAP, Zhou et al. 2016), e.g. 9.2 M instead of 128.8 M
            parameters for ``vgg11_bn``.
    """

    name: str
    version: str
    architecture: str
    class_names: tuple[str, ...]
    task: str = "multilabel"
    in_channels: int = 3
    input_size: tuple[int, int] = (224, 224)
    resize: str = "stretch"
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    target_layer: str | None = None
    method: str | None = None
    thresholds: tuple[float, ...] = ()
    weights: str = "weights.safetensors"
    provenance: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    schema_version: int = SCHEMA_VERSION
    outputs: tuple[Mapping[str, str], ...] = ()
    head: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_regression(self) -> bool:
        """Whether the outputs are continuous values (``task: regression``)."""
        return self.task == "regression"

    def unit(self, index: int) -> str:
        """Unit of regression output ``index`` ("" when none is given or for classifiers)."""
        return str(self.outputs[index].get("unit", "")) if index < len(self.outputs) else ""

    def threshold(self, index: int) -> float:
        """Decision threshold of class ``index`` (0.5 when the manifest gives none)."""
        return self.thresholds[index] if self.thresholds else 0.5

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["class_names"] = list(self.class_names)
        data["input_size"] = list(self.input_size)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        data["thresholds"] = list(self.thresholds)
        data["provenance"] = dict(self.provenance)
        data["outputs"] = [dict(o) for o in self.outputs]
        if not self.outputs:
            del data["outputs"]  # classifiers' model.json stays as it was
        if self.method is None:
            del data["method"]  # bundles without a recommended method stay as they were
        if self.head is None:
            del data["head"]  # bundles with the architecture's own head stay as they were
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: Path | None = None) -> ModelManifest:
        """Validate ``data`` and build a manifest; every problem is reported at once."""
        problems: list[str] = []
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            problems.append(f"unknown keys {unknown} (known: {sorted(known)})")
        regression = data.get("task") == "regression"
        for required in ("name", "version", "architecture", "outputs" if regression else "class_names"):
            if required not in data:
                problems.append(f"missing required key '{required}'")
        if problems:
            raise _manifest_error(problems, path)

        def _get(key: str, default: Any) -> Any:
            return data.get(key, default)

        outputs = _check_outputs(data, problems) if regression or "outputs" in data else []
        if regression and "class_names" not in data:
            data = {**data, "class_names": [o["name"] for o in outputs] or [""]}
        schema = _get("schema_version", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            problems.append(f"schema_version {schema!r} is not supported (this RadLens reads {SCHEMA_VERSION})")
        class_names = _get("class_names", [])
        if not isinstance(class_names, list | tuple) or not class_names or not all(
            isinstance(c, str) and c for c in class_names
        ):
            problems.append("class_names must be a non-empty list of non-empty strings")
            class_names = []
        elif len(set(class_names)) != len(class_names):
            problems.append("class_names has duplicates")
        task = _get("task", "multilabel")
        if task not in TASKS:
            problems.append(f"task must be one of {TASKS}, not {task!r}")
        if regression and outputs and list(class_names) != [o["name"] for o in outputs]:
            problems.append("class_names of a regression bundle must equal the outputs' names (or be left out)")
        in_channels = _get("in_channels", 3)
        if in_channels not in (1, 3):
            problems.append(f"in_channels must be 1 or 3, not {in_channels!r}")
        input_size = _get("input_size", [224, 224])
        if isinstance(input_size, int):
            input_size = [input_size, input_size]
        if (
            not isinstance(input_size, list | tuple)
            or len(input_size) != 2
            or not all(isinstance(v, int) and v >= 8 for v in input_size)
        ):
            problems.append(f"input_size must be [height, width] integers >= 8, not {input_size!r}")
            input_size = [224, 224]
        resize = _get("resize", "stretch")
        if resize not in RESIZE_POLICIES:
            problems.append(f"resize must be one of {RESIZE_POLICIES}, not {resize!r}")
        mean = _get("mean", [0.485, 0.456, 0.406][: in_channels if in_channels in (1, 3) else 3])
        std = _get("std", [0.229, 0.224, 0.225][: in_channels if in_channels in (1, 3) else 3])
        for key, values in (("mean", mean), ("std", std)):
            if not isinstance(values, list | tuple) or len(values) not in (1, in_channels):
                problems.append(f"{key} must have 1 or in_channels={in_channels} numbers")
        if isinstance(std, list | tuple) and any(not isinstance(s, int | float) or s <= 0 for s in std):
            problems.append("std values must be positive numbers")
        thresholds = _get("thresholds", [])
        if regression and thresholds:
            problems.append("a regression bundle has no decision thresholds (remove 'thresholds')")
        if isinstance(thresholds, Mapping):
            missing = [c for c in class_names if c not in thresholds]
            if missing:
                problems.append(f"thresholds has no value for classes {missing}")
            thresholds = [thresholds.get(c, 0.5) for c in class_names]
        if thresholds and (
            len(thresholds) != len(class_names)
            or not all(isinstance(t, int | float) and 0.0 <= t <= 1.0 for t in thresholds)
        ):
            problems.append(
                f"thresholds must hold one probability in [0, 1] per class ({len(class_names)})"
            )
        target_layer = _get("target_layer", None)
        if target_layer is not None and not isinstance(target_layer, str):
            problems.append("target_layer must be a module name or null")
        method = _get("method", None)
        if method is not None and not (isinstance(method, str) and method.strip()):
            problems.append("method must be an explanation method's name (radlens explain --list-methods) or null")
        head = _get("head", None)
        if head is not None and head not in HEADS:
            problems.append(f"head must be one of {list(HEADS)} or null (the architecture's own head), not {head!r}")
        provenance = _get("provenance", {})
        if not isinstance(provenance, Mapping):
            problems.append("provenance must be an object")
        for key in ("name", "version", "architecture", "weights", "description"):
            if key in data and not isinstance(data[key], str):
                problems.append(f"{key} must be a string")
        if problems:
            raise _manifest_error(problems, path)
        return cls(
            name=data["name"],
            version=data["version"],
            architecture=data["architecture"],
            class_names=tuple(class_names),
            task=task,
            in_channels=in_channels,
            input_size=(int(input_size[0]), int(input_size[1])),
            resize=resize,
            mean=tuple(float(m) for m in mean) * (in_channels if len(mean) == 1 else 1),
            std=tuple(float(s) for s in std) * (in_channels if len(std) == 1 else 1),
            target_layer=target_layer,
            method=method,
            thresholds=tuple(float(t) for t in thresholds),
            weights=_get("weights", "weights.safetensors"),
            provenance=dict(provenance),
            description=_get("description", ""),
            schema_version=schema,
            outputs=tuple(outputs),
            head=head,
        )

    @classmethod
    def from_bundle(cls, bundle: str | Path = "default") -> ModelManifest:
        """The manifest of a bundle folder, read without importing torch (e.g. for a status bar).

        Args:
            bundle: The bundle folder, its ``model.json``, or ``"default"`` for the bundled model.

        Raises:
            ModelError: The folder does not exist, or no default model is installed.
            BundleManifestError: ``model.json`` is missing or invalid.
        """
        return cls.read(bundle_folder(bundle) / "model.json")

    @classmethod
    def read(cls, path: Path) -> ModelManifest:
        """Read and validate a ``model.json`` file."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BundleManifestError(
                "model.json not found.", path=path,
                fix="a bundle is a folder holding model.json and its weights file.",
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleManifestError(
                f"cannot parse model.json ({exc}).", path=path, fix="repair the JSON."
            ) from exc
        if not isinstance(data, dict):
            raise BundleManifestError("model.json must hold a JSON object.", path=path)
        return cls.from_dict(data, path=path)


def default_bundle_path() -> Path:
    """The bundled default model: ``resources/models/phantom-resnet18`` (:data:`DEFAULT_BUNDLE_NAME`)
    when installed, else the first classifier bundle under ``resources/models`` (other bundles
    shipped there, e.g. the studies' ``phantom-densenet121`` or the regression
    ``phantom-ctr-resnet18``, never become the default by their name's order).

    Raises:
        ModelError: No bundle is installed there.
    """
    from engine.resources import bundle_dirs, models_dir

    try:
        bundles, folder = bundle_dirs(), models_dir()
    except RadLensError as exc:
        raise ModelError("no bundled default model is installed.", path=exc.path,
                         fix="pass --model PATH to a bundle folder, or reinstall RadLens with its resources.") from exc
    for bundle in bundles:
        if bundle.name == DEFAULT_BUNDLE_NAME:
            return bundle
    for bundle in bundles:
        if not _is_regression_bundle(bundle):
            return bundle
    raise ModelError(
        "no bundled default model is installed.",
        path=folder,
        fix="pass --model PATH to a bundle folder, or reinstall RadLens with its resources.",
    )


def _is_regression_bundle(folder: Path) -> bool:
    try:
        data = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("task") == "regression"


def bundle_folder(path: str | Path) -> Path:
    """The bundle folder meant by ``path``: a folder, its ``model.json``, or ``"default"``.

    Raises:
        ModelError: The folder does not exist, or no default model is installed.
    """
    if str(path) == "default":
        return default_bundle_path()
    path = Path(path)
    bundle = path.parent if path.is_file() and path.name == "model.json" else path
    if not bundle.exists():
        raise ModelError(
            "model bundle not found.", path=bundle,
            fix="pass the folder that holds model.json, or 'default'.",
        )
    return bundle


def _check_outputs(data: Mapping[str, Any], problems: list[str]) -> list[dict[str, str]]:
    """Validate a regression bundle's ``outputs``; appends problems, returns the clean list."""
    raw = data.get("outputs")
    if data.get("task") != "regression":
        problems.append("'outputs' is only for task 'regression' (classifiers list class_names)")
        return []
    if not isinstance(raw, list | tuple) or not raw:
        problems.append('outputs must be a non-empty list like [{"name": "Cardiothoracic ratio", "unit": "ratio"}]')
        return []
    clean: list[dict[str, str]] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
            problems.append(f"outputs[{i}] must be an object with a non-empty string 'name'")
            continue
        extra = sorted(set(entry) - set(OUTPUT_KEYS))
        if extra:
            problems.append(f"outputs[{i}] has unknown keys {extra} (known: {list(OUTPUT_KEYS)})")
        if any(not isinstance(entry.get(k, ""), str) for k in OUTPUT_KEYS):
            problems.append(f"outputs[{i}]: 'unit' and 'description' must be strings")
            continue
        clean.append({k: str(entry[k]) for k in OUTPUT_KEYS if k in entry})
    names = [o["name"] for o in clean]
    if len(set(names)) != len(names):
        problems.append("outputs has duplicate names")
    return clean


def _manifest_error(problems: list[str], path: Path | None) -> BundleManifestError:
    listing = "; ".join(problems)
    return BundleManifestError(
        f"invalid model manifest: {listing}.", path=path,
        fix="correct model.json (see docs/model-bundles.md).",
    )
