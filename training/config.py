"""Training recipe: one schema with defaults, read from YAML, unknown keys rejected.

A config file has up to six sections; every key is optional and has its default here::

    name: phantom-resnet18         # model name written into the bundle
    version: "1.0"
    seed: 1
    data:     {format, root, images, annotations, classes, ...}     -> DataConfig
    model:    {architecture, in_channels, input_size, resize, ...}  -> ModelConfig
    augment:  {rotate_deg, translate, scale, brightness, ...}        -> AugmentConfig
    optim:    {name, lr, weight_decay, schedule, warmup_epochs, ...} -> OptimConfig
    train:    {epochs, batch_size, patience, amp, num_workers, ...}  -> TrainSettings
    output:   {dir, overwrite}                                       -> OutputConfig

Relative paths in ``data`` and ``output`` are relative to the current working directory (the
command to reproduce a run is recorded from the repository root).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import RadLensError
from engine.models.manifest import HEADS

DATA_FORMATS = ("phantom", "vinbigdata", "nih", "siim")
PATIENT_SOURCES = ("auto", "dicom", "csv", "nih_prefix", "image")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "linear", "constant")
TASKS = ("multilabel", "multiclass", "regression")
LOSSES = ("auto", "mse", "huber")
AMP_MODES = ("auto", "on", "off")


class TrainConfigError(RadLensError):
    """A training config file is missing, malformed, or holds an unknown key or bad value."""


@dataclass(frozen=True)
class DataConfig:
    """Where the images and labels are and how they become training examples.

    Attributes:
        format: ``phantom`` (a ``radlens phantom`` folder = VinBigData format), ``vinbigdata``,
            ``nih`` (``BBox_List_2017.csv`` + optional ``Data_Entry``-style labels CSV) or
            ``siim`` (``train-rle.csv`` -> binary Pneumothorax label).
        root: Dataset folder.
        images: Image folder, relative to ``root``; empty = ``images/`` if it exists, else ``root``.
        annotations: Annotation CSV relative to ``root``; empty = the format's usual name.
        labels_csv: NIH only: optional ``Data_Entry_2017.csv``-style file (``Image Index``,
            ``Finding Labels`` separated by ``|``) giving labels of every image listed.
        classes: Classes to train on, in output order; empty = the format's default (phantom:
            its five classes; SIIM: Pneumothorax; others: every class seen, sorted).
        min_raters: An image is positive for a class when at least this many annotators
            marked it (VinBigData has 3 readers per image).
        patient_source: ``auto`` (DICOM PatientID, else the NIH file-name prefix for ``nih``,
            else the image id), ``dicom``, ``csv``, ``nih_prefix`` or ``image``.
        patient_csv: CSV mapping images to patients (for ``patient_source: csv``).
        patient_column: Patient column of ``patient_csv``.
        image_column: Image column of ``patient_csv`` (file name or stem).
        val_fraction: Share of patients in the validation split.
        test_fraction: Share of patients in the test split.
        limit: Use only the first N images (sorted by id); 0 = all.
        siim_size: Image side SIIM RLE offsets refer to (1024 in the challenge).
        targets: Regression only: CSV of continuous targets relative to ``root`` (empty =
            ``targets.csv``, what ``radlens phantom`` writes); one row per image, the image id in
            ``image_column``.
        target_columns: Regression only: the CSV columns to predict, in output order.
    """

    format: str = "phantom"
    root: str = "data/phantom"
    images: str = ""
    annotations: str = ""
    labels_csv: str = ""
    classes: tuple[str, ...] = ()
    min_raters: int = 1
    patient_source: str = "auto"
    patient_csv: str = ""
    patient_column: str = "patient_id"
    image_column: str = "image_id"
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    limit: int = 0
    siim_size: int = 1024
    targets: str = ""
    target_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """The network and how images enter it (becomes the bundle's manifest).

    Attributes:
        architecture: torchvision classification model name.
        task: ``multilabel`` (sigmoid, BCE) or ``multiclass`` (softmax, CE).
        in_channels: 1 (cheaper; X-rays are grayscale) or 3.
        input_size: ``[height, width]`` of the network input.
        resize: ``stretch`` or ``letterbox``.
        mean: Normalisation mean per channel (one value is repeated).
        std: Normalisation std per channel.
        target_layer: Default CAM layer written into the bundle; empty = ``layer4`` for
            ResNets, else the engine's automatic choice.
        output_names: Regression only: the outputs' names in the bundle (empty = the target
            columns).
        output_units: Regression only: one unit per output (e.g. ``ratio``, ``mm``).
        head: Empty (the architecture's own head) or ``gap``: a VGG's/AlexNet's fully-connected
            classifier becomes global average pooling and one linear layer (VGG-GAP, Zhou et al.
            2016); written into the bundle's ``head``.
        init_from: Regression only: a bundle folder whose weights initialise the network (same
            architecture and input channels; tensors whose shape differs, such as the head, keep
            their fresh initialisation). Empty = random initialisation.
    """

    architecture: str = "resnet18"
    task: str = "multilabel"
    in_channels: int = 1
    input_size: tuple[int, int] = (224, 224)
    resize: str = "stretch"
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    target_layer: str = ""
    output_names: tuple[str, ...] = ()
    output_units: tuple[str, ...] = ()
    init_from: str = ""
    head: str = ""


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation (on tensors, torchvision.transforms.v2).

    Horizontal flips are off by default: chest anatomy is lateral (heart on the patient's left)
    and the laterality marker must keep meaning what it says.

    Attributes:
        enabled: Master switch.
        rotate_deg: Maximum rotation in degrees (uniform in ``[-r, r]``).
        translate: Maximum shift as a fraction of the size.
        scale: ``[min, max]`` zoom factors.
        brightness: Brightness jitter factor (0 = off).
        contrast: Contrast jitter factor (0 = off).
        hflip: Probability of a horizontal flip (keep 0 for chest X-rays).
    """

    enabled: bool = True
    rotate_deg: float = 10.0
    translate: float = 0.05
    scale: tuple[float, float] = (0.9, 1.1)
    brightness: float = 0.1
    contrast: float = 0.1
    hflip: float = 0.0


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and learning-rate schedule (stepped every batch).

    Attributes:
        name: ``adamw`` or ``sgd``.
        lr: Peak learning rate.
        weight_decay: Weight decay.
        momentum: SGD momentum (ignored by AdamW).
        schedule: ``cosine`` (to ``final_lr_factor`` x lr), ``linear`` (likewise) or ``constant``.
        warmup_epochs: Linear warm-up from ``warmup_start_factor`` x lr, in epochs (fractional ok).
        warmup_start_factor: Learning-rate factor at step 0.
        final_lr_factor: Learning-rate factor at the last step.
    """

    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    warmup_start_factor: float = 0.1
    final_lr_factor: float = 0.01


@dataclass(frozen=True)
class TrainSettings:
    """The loop.

    Attributes:
        epochs: Maximum number of epochs.
        batch_size: Batch size per process.
        patience: Early stopping: epochs without a better validation macro AUC (0 = never stop).
        min_delta: Smallest AUC gain counted as better.
        pos_weight: Multi-label only: weight positives by negatives/positives per class.
        amp: Mixed precision: ``auto`` (float16 on CUDA, bfloat16 on CPUs with AVX-512 BF16),
            ``on`` (also bfloat16 on other CPUs) or ``off``.
        num_workers: DataLoader worker processes (0 = main process).
        device: ``auto``, ``cpu`` or ``cuda``.
        calibrate: Fit temperature scaling on validation and fold it into the head.
        cache_workers: Threads decoding images into the cache.
        deterministic: Ask PyTorch for deterministic algorithms where it can.
        loss: Regression only: ``mse``, ``huber`` (``auto`` = mse); classifiers use BCE / CE.
        huber_delta: Huber loss threshold, in standardised target units.
        standardise_targets: Regression: train on (y - mean) / std of the training split; the
            affine is folded into the last Linear layer, so the bundle outputs raw values.
        freeze: Regression only: module names (prefixes, e.g. ``conv1``, ``layer1``) whose
            parameters are not trained and whose BatchNorm statistics stay fixed.
    """

    epochs: int = 10
    batch_size: int = 32
    patience: int = 3
    min_delta: float = 0.0
    pos_weight: bool = True
    amp: str = "auto"
    num_workers: int = 0
    device: str = "auto"
    calibrate: bool = True
    cache_workers: int = 2
    deterministic: bool = False
    loss: str = "auto"
    huber_delta: float = 1.0
    standardise_targets: bool = True
    freeze: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutputConfig:
    """Where results go.

    Attributes:
        dir: Output folder (checkpoint, logs, split, metrics, ``bundle/``).
        overwrite: Replace an existing bundle in ``dir``.
    """

    dir: str = "runs/phantom-resnet18"
    overwrite: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """A whole training recipe (see the module docstring for the file layout)."""

    name: str = "radlens-model"
    version: str = "1.0"
    description: str = ""
    seed: int = 1
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-ready dict (tuples become lists)."""
        return _plain(dataclasses.asdict(self))

    def replace(self, **sections: Any) -> TrainConfig:
        """A copy with whole sections or top-level values replaced."""
        return dataclasses.replace(self, **sections)


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "augment": AugmentConfig,
    "optim": OptimConfig,
    "train": TrainSettings,
    "output": OutputConfig,
}


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Read and validate a YAML training config.

    Args:
        path: The YAML file.

    Returns:
        The config, defaults filled in.

    Raises:
        TrainConfigError: The file is missing or not YAML, a key is unknown, or a value is wrong
            (the message names the file and the key).
    """
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainConfigError("config file not found.", path=p, fix="pass --config PATH to a YAML file.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TrainConfigError(f"cannot read the YAML ({exc}).", path=p, fix="repair the file.") from exc
    return config_from_dict(raw if raw is not None else {}, path=p)


def config_from_dict(raw: Any, *, path: Path | None = None) -> TrainConfig:
    """Build and validate a config from a plain dict (as read from YAML).

    Raises:
        TrainConfigError: An unknown key or a bad value, naming ``path`` and the key.
    """
    if not isinstance(raw, Mapping):
        raise TrainConfigError("the config must be a YAML mapping of sections.", path=path)
    top_fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    _reject_unknown(raw, set(top_fields), "", path)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECTIONS:
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise TrainConfigError(f"section '{key}' must be a mapping.", path=path)
            kwargs[key] = _build_section(_SECTIONS[key], value, key, path)
        else:
            kwargs[key] = _coerce(value, top_fields[key].type, key, path)
    config = TrainConfig(**kwargs)
    _validate(config, path)
    return config


def _reject_unknown(raw: Mapping[str, Any], known: set[str], prefix: str, path: Path | None) -> None:
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise TrainConfigError(
            f"unknown config key '{where}{unknown[0]}'" + (f" (and {unknown[1:]})" if unknown[1:] else "") + ".",
            path=path, fix=f"use one of: {', '.join(sorted(known))}.",
        )


def _build_section(cls: type, raw: Mapping[str, Any], name: str, path: Path | None) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _reject_unknown(raw, set(fields), name, path)
    values = {k: _coerce(v, fields[k].type, f"{name}.{k}", path) for k, v in raw.items()}
    return cls(**values)


def _coerce(value: Any, annotation: Any, key: str, path: Path | None) -> Any:
    """Check ``value`` against a field's annotation (a string under postponed evaluation)."""
    kind = str(annotation)
    bad = TrainConfigError(f"config key '{key}' has the wrong type ({value!r}; expected {kind}).", path=path)
    if kind.startswith("tuple"):
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list | tuple):
            raise bad
        inner = "str" if "str" in kind else ("float" if "float" in kind else "int")
        return tuple(_coerce(v, inner, key, path) for v in value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return float(value)
    if kind == "str":
        if isinstance(value, bool) and key.endswith(".amp"):  # YAML 1.1 reads off/on as booleans
            return "on" if value else "off"
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise bad
        return value
    return value


def _validate(c: TrainConfig, path: Path | None) -> None:
    def fail(key: str, problem: str) -> None:
        raise TrainConfigError(f"config key '{key}' {problem}.", path=path)

    checks: list[tuple[bool, str, str]] = [
        (c.data.format in DATA_FORMATS, "data.format", f"must be one of {DATA_FORMATS}"),
        (c.data.patient_source in PATIENT_SOURCES, "data.patient_source", f"must be one of {PATIENT_SOURCES}"),
        (c.data.patient_source != "csv" or bool(c.data.patient_csv), "data.patient_csv",
         "is required when patient_source is 'csv'"),
        (0.0 <= c.data.val_fraction < 1.0 and 0.0 <= c.data.test_fraction < 1.0
         and c.data.val_fraction + c.data.test_fraction < 1.0, "data.val_fraction",
         "and test_fraction must be in [0, 1) and sum to less than 1"),
        (c.data.val_fraction > 0.0, "data.val_fraction", "must be > 0 (early stopping and calibration need it)"),
        (c.data.min_raters >= 1, "data.min_raters", "must be >= 1"),
        (c.data.limit >= 0, "data.limit", "must be >= 0"),
        (c.model.task in TASKS, "model.task", f"must be one of {TASKS}"),
        (c.model.in_channels in (1, 3), "model.in_channels", "must be 1 or 3"),
        (len(c.model.input_size) == 2 and min(c.model.input_size) >= 16, "model.input_size",
         "must be [height, width] >= 16"),
        (c.model.resize in ("stretch", "letterbox"), "model.resize", "must be 'stretch' or 'letterbox'"),
        (c.model.head in ("", *HEADS), "model.head", f"must be empty (the architecture's own head) or one of {HEADS}"),
        (len(c.model.mean) in (1, c.model.in_channels), "model.mean", "must have 1 or in_channels values"),
        (len(c.model.std) in (1, c.model.in_channels) and all(s > 0 for s in c.model.std), "model.std",
         "must have 1 or in_channels positive values"),
        (c.augment.rotate_deg >= 0, "augment.rotate_deg", "must be >= 0"),
        (0.0 <= c.augment.translate < 1.0, "augment.translate", "must be in [0, 1)"),
        (len(c.augment.scale) == 2 and 0 < c.augment.scale[0] <= c.augment.scale[1], "augment.scale",
         "must be [min, max] with 0 < min <= max"),
        (0.0 <= c.augment.hflip <= 1.0, "augment.hflip", "must be a probability"),
        (c.optim.name in OPTIMIZERS, "optim.name", f"must be one of {OPTIMIZERS}"),
        (c.optim.schedule in SCHEDULES, "optim.schedule", f"must be one of {SCHEDULES}"),
        (c.optim.lr > 0, "optim.lr", "must be > 0"),
        (c.optim.warmup_epochs >= 0, "optim.warmup_epochs", "must be >= 0"),
        (c.train.epochs >= 1, "train.epochs", "must be >= 1"),
        (c.train.batch_size >= 1, "train.batch_size", "must be >= 1"),
        (c.train.patience >= 0, "train.patience", "must be >= 0"),
        (c.train.amp in AMP_MODES, "train.amp", f"must be one of {AMP_MODES}"),
        (c.train.num_workers >= 0, "train.num_workers", "must be >= 0"),
        (c.train.device in ("auto", "cpu", "cuda") or c.train.device.startswith("cuda:"), "train.device",
         "must be auto, cpu or cuda"),
    ]
    regression = c.model.task == "regression"
    k = len(c.data.target_columns)
    checks += [
        (not regression or k > 0, "data.target_columns", "must name the CSV column(s) to predict for task regression"),
        (regression or k == 0, "data.target_columns", "is only for task regression"),
        (not c.model.output_names or len(c.model.output_names) == k, "model.output_names",
         "must have one name per data.target_columns entry"),
        (not c.model.output_units or len(c.model.output_units) == k, "model.output_units",
         "must have one unit per data.target_columns entry"),
        (c.train.loss in LOSSES, "train.loss", f"must be one of {LOSSES}"),
        (regression or c.train.loss == "auto", "train.loss", "is only for task regression (classifiers: auto)"),
        (c.train.huber_delta > 0, "train.huber_delta", "must be > 0"),
        (regression or not (c.model.init_from or c.train.freeze), "model.init_from",
         "and train.freeze are only for task regression"),
    ]
    for ok, key, problem in checks:
        if not ok:
            fail(key, problem)
