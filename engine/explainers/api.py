"""The engine's one door for explanations: ``explain``, ``list_methods``, ``list_layers``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.atomic import atomic_write_text
from engine.errors import ExplainError, UnknownClassError, UnknownLayerError
from engine.explainers import attention, cam, gradients, gradinput, scorecam  # noqa: F401 - registers the methods
from engine.explainers.alignment import ALIGNMENTS, BUNDLE_ALIGNMENT_DIR, GridAlignment, cache_dir, measure_alignment
from engine.explainers.base import CancelFn, Context, ProgressFn, get_method, registered
from engine.explainers.hooks import logits_of, module_by_name
from engine.explainers.normalise import check_mode
from engine.explainers.result import ExplanationResult
from engine.explainers.tokens import TokenLayout, family_default_layer, layout_of
from engine.models.bundle import LoadedModel, load_model
from engine.models.lock import model_lock
from engine.preprocess import HasDisplay, to_model_input
from engine.runtime import library_versions, resolve_device


@dataclass(frozen=True)
class MethodInfo:
    """What the UI and CLI need to offer a method."""

    name: str
    label: str
    family: str
    summary: str
    params: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class LayerInfo:
    """A module whose output CAM methods can use."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    is_default: bool
    #: How the output maps to a grid, e.g. ``tokens 1+196 -> 14x14 grid`` (:mod:`engine.explainers.tokens`).
    layout: str = ""


def list_methods() -> list[MethodInfo]:
    """Every registered method with its parameters and their defaults."""
    out = []
    for name, cls in registered().items():
        params = tuple(
            {"name": p.name, "default": p.default, "type": p.kind.__name__, "help": p.help,
             "choices": list(p.choices) if p.choices else None, "minimum": p.minimum, "maximum": p.maximum}
            for p in cls.params
        )
        out.append(MethodInfo(name, cls.label, cls.family, cls.summary, params))
    return out


Shape = tuple[str, str, tuple[int, ...]]


def _probe_shapes(module: nn.Module, x: torch.Tensor) -> tuple[list[Shape], tuple[int, ...] | None]:
    """(name, type, output shape) of every named module, in the order their forwards finish, and
    the shape of the network's output (its logits; None if it gives no tensor): one forward."""
    seen: list[Shape] = []
    handles = []

    def hook_for(name: str):
        def hook(mod: nn.Module, _i: object, out: object) -> None:
            # a batch other than the input's (Swin's windows: batch x windows) is no image grid
            if isinstance(out, torch.Tensor) and out.ndim >= 1 and out.shape[0] == x.shape[0]:
                seen.append((name, type(mod).__name__, tuple(out.shape[1:])))
        return hook

    try:
        for name, sub in module.named_modules():
            if name:
                handles.append(sub.register_forward_hook(hook_for(name)))
        with torch.no_grad():
            raw = module(x)
    finally:
        for h in handles:
            h.remove()
    unique: dict[str, Shape] = {}
    for entry in seen:
        unique.pop(entry[0], None)
        unique[entry[0]] = entry  # last call wins; order of last completion
    try:
        out = logits_of(raw)
    except TypeError:  # no class scores in it: the head check names the problem
        return list(unique.values()), None
    return list(unique.values()), tuple(out.shape)


@dataclass(frozen=True)
class _Survey:
    """What one forward of zeros at the bundle's input size says about a network: its modules'
    output shapes (the layer list) and its output's shape (the head check)."""

    shapes: list[Shape]
    output: tuple[int, ...] | None


#: Part of the survey's disk key: bump when what the survey records could change.
SURVEY_VERSION = 1

# Per-module caches hold the module weakly: an id() key could be reused by a new model.
_SURVEYS: weakref.WeakKeyDictionary[nn.Module, _Survey] = weakref.WeakKeyDictionary()
_LAYER_CACHE: weakref.WeakKeyDictionary[nn.Module, list[tuple[str, str, tuple[int, ...], TokenLayout]]] = (
    weakref.WeakKeyDictionary()
)


def _survey_file(model: LoadedModel) -> Path | None:
    """Where a bundle's survey is kept on disk: keyed by its weights' SHA-256, its whole manifest and
    the versions of the libraries that build the network (None for a model not read from a bundle)."""
    if model.path is None:
        return None
    versions = {k: v for k, v in library_versions().items() if k in ("radlens", "torch", "torchvision")}
    if model.manifest.architecture.startswith("timm:"):
        import importlib.metadata

        versions["timm"] = importlib.metadata.version("timm")
    text = json.dumps([SURVEY_VERSION, model.weights_sha256, model.manifest.to_dict(), versions,
                       str(model.device.type)], sort_keys=True, default=str)
    return cache_dir().parent / "survey" / (hashlib.sha256(text.encode()).hexdigest()[:40] + ".json")


def _read_survey(path: Path) -> _Survey | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        shapes = [(str(n), str(t), tuple(int(v) for v in s)) for n, t, s in data["shapes"]]
        output = tuple(int(v) for v in data["output"]) if data["output"] is not None else None
        return _Survey(shapes, output)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or damaged: survey again (and rewrite it)


def _write_survey(path: Path, survey: _Survey) -> None:
    payload = {"survey_version": SURVEY_VERSION, "shapes": [[n, t, list(s)] for n, t, s in survey.shapes],
               "output": list(survey.output) if survey.output is not None else None}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(payload) + "\n")
    except OSError:
        pass  # a read-only cache folder costs a forward next time, nothing else


def _survey(model: LoadedModel) -> _Survey:
    """The network's survey: one forward of zeros per model and process, and none at all for a
    bundle surveyed before (read back from the user's cache folder, keyed as :func:`_survey_file` says)."""
    key = model.module
    survey = _SURVEYS.get(key)
    if survey is None:
        path = _survey_file(model)
        survey = _read_survey(path) if path is not None else None
        if survey is None:
            m = model.manifest
            x = torch.zeros((1, m.in_channels, *m.input_size), device=model.device)
            with model_lock(model):
                survey = _Survey(*_probe_shapes(model.module, x))
            if path is not None and _head_problem(model, survey.output) is None:  # only a good head is kept
                _write_survey(path, survey)
        _SURVEYS[key] = survey
    return survey


def _spatial_layers(model: LoadedModel) -> list[tuple[str, str, tuple[int, ...], TokenLayout]]:
    """(name, type, output shape, layout) of every layer whose output is a grid or a token sequence."""
    if model.is_torchscript:
        raise UnknownLayerError(
            "TorchScript models do not support layer hooks, so CAM methods cannot run on them.",
            path=model.path,
            fix="use saliency, smoothgrad or integrated_gradients, or export a torchvision "
            "state_dict bundle.",
        )
    key = model.module
    if key not in _LAYER_CACHE:
        m = model.manifest
        size = (int(m.input_size[0]), int(m.input_size[1]))
        rows = []
        for name, kind, shape in _survey(model).shapes:
            lay = layout_of(model.module, shape, size) if len(shape) in (2, 3) else None
            if lay is not None:
                rows.append((name, kind, shape, lay))
        _LAYER_CACHE[key] = rows
    return _LAYER_CACHE[key]


def layer_layout(model: LoadedModel, name: str) -> TokenLayout | None:
    """The layout of layer ``name`` at the bundle's input size (None if it is not a listed layer)."""
    for n, _t, _s, lay in _spatial_layers(model):
        if n == name:
            return lay
    return None


def default_layer(model: LoadedModel) -> str:
    """The bundle's target layer; for transformers the field's layer (``tokens.family_default_layer``);
    for VGG/AlexNet-like models (``features`` ending in a pooling layer) the last layer of
    ``features`` before that pool (:func:`conv_block_default_layer`); else the last module with a
    spatial output larger than 1x1."""
    if model.manifest.target_layer:
        return model.manifest.target_layer
    rows = _spatial_layers(model)
    family = None
    if not model.is_torchscript:
        family = family_default_layer(model.module) or conv_block_default_layer(model.module)
    if family is not None and any(r[0] == family for r in rows):
        return family
    for name, _type, _shape, lay in reversed(rows):
        if lay.grid[0] * lay.grid[1] > 1:
            return name
    raise UnknownLayerError("the model has no layer with a spatial output.", path=model.path)


def conv_block_default_layer(module: nn.Module) -> str | None:
    """``features.K``, the last layer of the last conv block, for models whose ``features`` ends in a pool.

    A torchvision VGG's or AlexNet's ``features`` ends in a max-pool that halves the grid (6x6 instead
    of 12x12 at 192 px); its last conv block's ReLU (VGG-11: ``features.27``) is the layer the CAM
    literature explains (Zhou et al. 2016 drop the layers after conv5_3). None for other models.
    """
    features = getattr(module, "features", None)
    if not isinstance(features, nn.Sequential) or len(features) < 2:
        return None
    pools = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)
    children = list(features.named_children())
    if not isinstance(children[-1][1], pools):
        return None
    for name, child in reversed(children[:-1]):
        if not isinstance(child, pools):
            return f"features.{name}"
    return None


def list_layers(model: LoadedModel | str | Path) -> list[LayerInfo]:
    """Modules with a grid output ((C, H, W), Swin's (H, W, C), ViT tokens), in forward order, marking the default."""
    model = model if isinstance(model, LoadedModel) else load_model(model)
    default = default_layer(model)
    return [LayerInfo(n, t, s, n == default, lay.describe()) for n, t, s, lay in _spatial_layers(model)]


def _class_indices(model: LoadedModel, classes: Sequence[str | int] | str | int | None) -> list[int]:
    names = model.class_names
    if classes is None or classes == "all":
        return list(range(len(names)))
    if isinstance(classes, str | int):
        classes = [classes]
    out = []
    for c in classes:
        if isinstance(c, int | np.integer) and not isinstance(c, bool):
            if not 0 <= int(c) < len(names):
                raise UnknownClassError(f"class index {c} is out of range (0..{len(names) - 1}).")
            out.append(int(c))
        elif isinstance(c, str) and c in names:
            out.append(names.index(c))
        else:
            lowered = {n.lower(): i for i, n in enumerate(names)}
            if isinstance(c, str) and c.lower() in lowered:
                out.append(lowered[c.lower()])
            else:
                raise UnknownClassError(f"unknown class {c!r}; the model's classes are {', '.join(names)}.")
    return list(dict.fromkeys(out))


def explain(
    model: LoadedModel | str | Path,
    image: np.ndarray | HasDisplay,
    method: str = "gradcam",
    classes: Sequence[str | int] | str | int | None = None,
    layers: Sequence[str] | str | None = None,
    *,
    normalisation: str = "per_map",
    alignment: str = "receptive_field",
    device: str | torch.device | None = None,
    precision: str = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelFn | Callable[[], bool] | None = None,
    **params: Any,
) -> ExplanationResult:
    """Explain ``model``'s decision on ``image`` for the given classes.

    Args:
        model: A loaded model, or a bundle path (``"default"`` for the bundled one).
        image: 2-D or H x W x C array in image coordinates (uint8, or float in [0, 1]), or a
            ``StudyImage`` (its ``display`` array is used).
        method: A registered method name (see :func:`list_methods`).
        classes: Class names or indices; None or ``"all"`` means every class.
        layers: Target layer name(s) for CAM methods; None means the model's default.
        normalisation: ``per_map``, ``shared`` or ``raw``.
        alignment: CAM methods: ``receptive_field`` (default) puts each grid cell at its measured
            receptive-field centre on the input; ``resize`` at the centre of its tile, as plain
            resizing (pytorch-grad-cam, torchcam) does. See :mod:`engine.explainers.alignment`.
        device: ``auto``, ``cpu``, ``cuda``; None keeps the model's device.
        precision: ``auto`` (autocast on CUDA, float32 on CPU) or ``fp32``. (bfloat16 autocast on
            CPU was measured: 1.16x faster for ResNet-50 Grad-CAM, maps off by up to 0.16 of their
            range, so it is not offered.)
        progress: Called with (fraction, message) between steps.
        cancel: Returns True to stop; the call then raises ``CancelledError``.
        **params: Method parameters (see ``list_methods``); research defaults otherwise.

    Returns:
        A frozen :class:`ExplanationResult`. For a regression model (``task: regression``) it
        holds both directions of every output, "raises" and "lowers"
        (:mod:`engine.explainers.direction`: ``result.map(name, direction=...)``, ``result.values``).
    """
    return _explain(model, image, method, classes, layers, normalisation=normalisation, alignment=alignment,
                    device=device, precision=precision, progress=progress, cancel=cancel, params=params)[0]


def explain_layers(
    model: LoadedModel | str | Path,
    image: np.ndarray | HasDisplay,
    method: str,
    layers: Sequence[str],
    classes: Sequence[str | int] | str | int | None = None,
    *,
    normalisation: str = "per_map",
    alignment: str = "receptive_field",
    device: str | torch.device | None = None,
    precision: str = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelFn | Callable[[], bool] | None = None,
    **params: Any,
) -> dict[str, ExplanationResult]:
    """One explanation per layer, each equal to ``explain(..., layers=[name])``, from one run.

    The CAM methods whose per-layer maps do not depend on the other layers (Grad-CAM, Grad-CAM++,
    XGrad-CAM, LayerCAM: one forward and one batched backward for every layer; Score-CAM: one
    unmasked forward) explain all ``layers`` together and split the result; the maps equal the
    single-layer runs' to float rounding (a test compares them). Other methods, and regression
    models, run once per layer. A study that scores a method at several layers (the robustness
    block's eight residual blocks) pays for one forward and backward instead of eight.

    Returns:
        Layer name -> its result, in the order of ``layers``.
    """
    names = list(dict.fromkeys(layers))
    if not isinstance(model, LoadedModel):
        model = load_model(model, device=device or "cpu")
        device = None
    kwargs: dict[str, Any] = {"normalisation": normalisation, "alignment": alignment, "device": device,
                              "precision": precision, "progress": progress, "cancel": cancel}
    if (len(names) < 2 or not getattr(get_method(method), "independent_layers", False)
            or model.manifest.task == "regression"):
        return {name: explain(model, image, method, classes, [name], **kwargs, **params) for name in names}
    return _explain(model, image, method, classes, names, params=params, split=True, **kwargs)[1]


def _explain(
    model: LoadedModel | str | Path,
    image: np.ndarray | HasDisplay,
    method: str,
    classes: Sequence[str | int] | str | int | None,
    layers: Sequence[str] | str | None,
    *,
    normalisation: str,
    alignment: str,
    device: str | torch.device | None,
    precision: str,
    progress: ProgressFn | None,
    cancel: CancelFn | Callable[[], bool] | None,
    params: dict[str, Any],
    split: bool = False,
) -> tuple[ExplanationResult, dict[str, ExplanationResult]]:
    """:func:`explain`; with ``split`` also one result per layer, as a single-layer run gives it."""
    if not isinstance(model, LoadedModel):
        model = load_model(model, device=device or "cpu")
    elif device is not None and resolve_device(device) != model.device:
        model = model.to(device)
    if model.manifest.task == "regression":  # both directions per output (engine.explainers.direction)
        from engine.explainers.direction import explain_directions

        return explain_directions(model, image, method, classes, layers, normalisation=normalisation,
                                  alignment=alignment, precision=precision, progress=progress, cancel=cancel,
                                  **params), {}
    cls = get_method(method)
    resolved = cls.resolve_params(params)
    mode = check_mode(normalisation)
    if alignment not in ALIGNMENTS:
        raise ExplainError(f"alignment must be one of {', '.join(ALIGNMENTS)}, not {alignment!r}.")
    if precision not in ("auto", "fp32"):
        raise ExplainError(f"precision must be 'auto' or 'fp32', not {precision!r}.")
    idx = _class_indices(model, classes)
    if cls.uses_layers():
        layer_list = [layers] if isinstance(layers, str) else list(layers or [default_layer(model)])
        if model.is_torchscript:
            _spatial_layers(model)  # raises the TorchScript explanation
        for name in layer_list:
            module_by_name(model.module, name)
    else:
        layer_list = []
    x, geometry, scaling = to_model_input(image, model.manifest)
    dev = model.device
    autocast = precision == "auto" and dev.type == "cuda"
    ctx = Context(
        module=model.module, x=x.to(dev), device=dev, autocast=autocast, progress=progress,
        cancel=cancel, task=model.manifest.task,
        norm_mean=torch.tensor(model.manifest.mean), norm_std=torch.tensor(model.manifest.std),
    )
    if cls.forward_copy:
        from engine.models.inference import inference_copy

        ctx.forward_module = inference_copy(model).module
    probed: dict[str, str] = {}  # layers whose fields the gradient probe measured, and why
    with model_lock(model):  # hooks are per module: no other thread's forward may interleave
        _check_head(model, ctx)
        if layer_list and alignment == "receptive_field":
            measured = {name: _layer_alignment(model, name, ctx.x) for name in layer_list}
            probed = {k: a.how for k, a in measured.items() if a is not None and a.how.startswith("gradient probe")}
            ctx.alignments = {k: a for k, a in measured.items()
                              if a is not None and a.source == "receptive_field"} or None
        start = time.perf_counter()
        out = cls().run(ctx, idx, layer_list, resolved)
        elapsed = time.perf_counter() - start
    logits = out.logits.detach().float().cpu()
    probs = torch.sigmoid(logits) if model.manifest.task == "multilabel" else torch.softmax(logits, 0)
    native = out.maps.detach().float().cpu().numpy()
    notes = list(out.notes)
    convention = getattr(cls, "convention", "")
    if convention:
        notes.append(str(convention))
    patches: set[str] = set()
    if layer_list:
        patches = {n for n in layer_list if (lay := layer_layout(model, n)) is not None and lay.is_patch_grid}
        notes.append(_alignment_note(alignment, ctx, layer_list, patches))
        notes += [f"{name}: receptive fields measured by the {how}" for name, how in probed.items()]
    if not np.all(np.isfinite(native)):
        raise ExplainError(f"{cls.label} produced non-finite values; try precision='fp32'.")
    names = tuple(model.class_names[i] for i in idx)
    target = "logit (pre-sigmoid)" if model.manifest.task == "multilabel" else "pre-softmax score"
    layer_maps = {k: v.detach().float().cpu().numpy() for k, v in out.layer_maps.items()}
    result = ExplanationResult(
        method=cls.name, params=resolved, layers=tuple(layer_list), class_names=model.class_names,
        explained=names, logits=logits.numpy(), probabilities=probs.numpy(),
        thresholds=model.manifest.thresholds or tuple(0.5 for _ in model.class_names),
        target=target, normalisation=mode, native_maps=native,
        value_ranges={n: (float(m.min()), float(m.max())) for n, m in zip(names, native, strict=True)},
        geometry=geometry, model=model.identity(), versions=library_versions(), device=str(dev),
        precision="autocast" if autocast else "fp32", elapsed_s=elapsed, signed=out.signed,
        notes=tuple(notes), input_scaling=scaling,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        layer_maps=layer_maps,
        alignment=_result_alignment(ctx, native.shape[-2:]),
        diagnostics=dict(out.diagnostics),
    )
    if not split:
        return result, {}
    per_layer = {}
    for name in layer_list:
        m = layer_maps[name] if len(layer_list) > 1 else native
        if not np.all(np.isfinite(m)):
            raise ExplainError(f"{cls.label} produced non-finite values at {name}; try precision='fp32'.")
        one = [str(convention)] if convention else []
        one.append(_alignment_note(alignment, ctx, [name], patches & {name}))
        one += [f"{name}: receptive fields measured by the {probed[name]}"] if name in probed else []
        aligned = (ctx.alignments or {}).get(name)
        per_layer[name] = dataclasses.replace(
            result, layers=(name,), native_maps=m, layer_maps={}, notes=tuple(one), _cache={}, _directed={},
            value_ranges={n: (float(v.min()), float(v.max())) for n, v in zip(names, m, strict=True)},
            alignment=aligned if aligned is not None and tuple(aligned.grid) == tuple(m.shape[-2:]) else None,
        )
    return result, per_layer


def _layer_alignment(model: LoadedModel, name: str, x: torch.Tensor) -> GridAlignment | None:
    """Patch grids (ViT tokens, Swin stages): patch centres, no probe; CNN grids: the measured fields."""
    lay = layer_layout(model, name)
    if lay is not None and lay.is_patch_grid:
        return lay.alignment((int(x.shape[-2]), int(x.shape[-1])))
    # bundles read from disk keep the probe's answer on disk (keyed by their weights' SHA-256)
    disk_key = model.weights_sha256 if model.path is not None else None
    shipped = Path(model.path) / BUNDLE_ALIGNMENT_DIR if model.path is not None else None
    return measure_alignment(model.module, name, x, disk_key=disk_key, shipped=shipped)


def _alignment_note(mode: str, ctx: Context, layers: Sequence[str], patches: set[str] | None = None) -> str:
    if mode == "resize":
        return "grid cells placed at the centres of their tiles (plain resizing, alignment='resize')"
    measured = ctx.alignments or {}
    parts = []
    for name in layers:
        a = measured.get(name)
        what = "token (i, j) at its patch centre" if name in (patches or ()) else "cell (i, j) centred at input"
        parts.append(f"{name}: {what} ({a.ay:g}i{a.by:+g}, {a.ax:g}j{a.bx:+g})" if a else
                     f"{name}: receptive fields wider than the input, cells placed at tile centres")
    return ("grid cells placed at their receptive-field centres (" + "; ".join(parts) + "); RadLens's default, "
            "pytorch-grad-cam and torchcam resize to tile centres (alignment='resize')")


def _result_alignment(ctx: Context, grid: tuple[int, ...]) -> GridAlignment | None:
    """The alignment of the output grid: the (finest) target layer's, if measured."""
    for a in (ctx.alignments or {}).values():
        if tuple(a.grid) == tuple(grid):
            return a
    return None


_HEAD_CHECKED: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def _check_head(model: LoadedModel, ctx: Context) -> None:
    """Once per model: the network's output size must equal the number of class names.

    The output's shape comes from the model's survey (:func:`_survey`: the forward that also lists
    the layers, or its record on disk). A TorchScript model, which takes no hooks, and a survey
    whose output does not fit (it was taken without a hook that changes the output, as
    :func:`engine.explainers.direction.explain_directions` adds) run a forward of ``ctx.x``, and
    that forward decides.
    """
    key = model.module
    if key in _HEAD_CHECKED:
        return
    shape = None if model.is_torchscript else _survey(model).output
    if model.is_torchscript or _head_problem(model, shape) is not None:
        with torch.no_grad():
            out = logits_of(model.module(ctx.x))
        shape = tuple(out.shape)
    problem = _head_problem(model, shape)
    if problem is not None:
        raise ExplainError(problem, path=model.path, fix="make class_names in model.json match the classifier head.")
    _HEAD_CHECKED.add(key)


def _head_problem(model: LoadedModel, shape: tuple[int, ...] | None) -> str | None:
    """Why an output of ``shape`` does not fit the bundle's class names (None if it does)."""
    if shape is None or len(shape) != 2 or shape[1] != len(model.class_names):
        return (f"the model outputs shape {shape} but the bundle lists "
                f"{len(model.class_names)} classes.")
    return None
