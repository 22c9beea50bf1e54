"""The study file: YAML (or ``preset:NAME``) -> a validated, frozen :class:`StudyConfig`.

Every problem is collected before anything runs and reported together with its line number and
the accepted values (:class:`~training.study.errors.StudyConfigError`). The schema (documented in
``docs/studies.md``)::

    name: localisation                 # free text
    description: ...                   # free text
    data:
      folder: null                     # data set folder; --data overrides it
      format: auto                     # auto | phantom | vinbigdata | nih | siim | classification_csv | class_folders
      annotations: null                # annotation file relative to the folder (format default)
      split: all                       # all | {file: split.json, subset: train|val|test}
      limit: 0                         # first N images (0 = all); --limit overrides it
    models: [default]                  # bundle folders, or "default" for the bundled model
    methods:                           # each method x each of its layers
      - {name: gradcam, layers: [default], params: {}}
    thresholds:
      top_fraction: [0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.2]
      fraction_of_max: [0.15, 0.5]
      otsu: true
    metrics: [localisation]            # registered blocks: localisation | perturbation | robustness | sanity
    localisation:
      policies: [mean, best, fused]
      pointing_tolerance_px: 15
      box_mode: all                    # all | largest | union
    perturbation: {fractions: [0.02, 0.05, 0.1, 0.2, 0.5], modes: [mean, blur], rows: predicted, seeds: [0, 1, 2]}
    robustness: {corruptions: [...], severities: [1, 2, 3, 4, 5], seed: 0, scale: clean}
    sanity: {cascade: auto, seed: 0, max_steps: 0}
    run:
      batch_size: 4                    # images per Ray batch and per Parquet part

The sections of each metric block (``thresholds``/``localisation``, ``perturbation``, ``robustness``,
``sanity``) are declared and validated by the block itself (:mod:`training.study.blocks`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from engine.resources import presets_dir
from training.study.blocks import BLOCKS
from training.study.blocks.localisation import POLICY_NAMES
from training.study.errors import ConfigProblem, StudyConfigError

FORMATS = ("auto", "phantom", "vinbigdata", "nih", "siim", "classification_csv", "class_folders")
SUBSETS = ("train", "val", "test")
#: The registered metric blocks (:mod:`training.study.blocks`).
METRIC_BLOCKS = tuple(BLOCKS)
#: Blocks of issue #15 that this version does not run yet (named in the error message).
PLANNED_BLOCKS: tuple[str, ...] = ()  # every block of issue #15 is registered
DEFAULT_LAYER = "default"

_BASE_KEYS = ("name", "description", "data", "models", "methods", "metrics")
#: Top-level keys: the base sections, then each block's sections, then ``run``.
_TOP_KEYS = (*_BASE_KEYS, *dict.fromkeys(k for b in BLOCKS.values() for k in b.sections), "run")
_DATA_KEYS = ("folder", "format", "annotations", "split", "limit")
_METHOD_KEYS = ("name", "layers", "params")
_RUN_KEYS = ("batch_size",)


@dataclass(frozen=True)
class MethodSpec:
    """One explanation method of a study, at each of its layers.

    Attributes:
        name: Registry name (``radlens explain --list-methods``).
        layers: Layer names; ``default`` is the bundle's target layer. Empty for methods that
            explain with respect to the input (saliency, SmoothGrad).
        params: Method parameters as written (defaults are filled in when the study runs).
    """

    name: str
    layers: tuple[str, ...] = (DEFAULT_LAYER,)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataSpec:
    """Where the images and their annotations are."""

    folder: str = ""
    format: str = "auto"
    annotations: str = ""
    split_file: str = ""
    subset: str = "test"
    limit: int = 0


@dataclass(frozen=True)
class StudyConfig:
    """A validated study (see the module docstring for the file schema)."""

    name: str
    description: str = ""
    data: DataSpec = field(default_factory=DataSpec)
    models: tuple[str, ...] = ("default",)
    methods: tuple[MethodSpec, ...] = (MethodSpec("gradcam"),)
    top_fractions: tuple[float, ...] = (0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.2)
    fraction_of_max: tuple[float, ...] = (0.15, 0.5)
    otsu: bool = True
    metrics: tuple[str, ...] = ("localisation",)
    policies: tuple[str, ...] = POLICY_NAMES
    pointing_tolerance_px: float = 15.0
    box_mode: str = "all"
    batch_size: int = 4
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""

    def thresholds(self) -> tuple[str, ...]:
        """Every threshold of the grid in the engine's string form (``top:0.05``, ``max:0.5``, ``otsu``)."""
        out = [f"top:{f:g}" for f in self.top_fractions] + [f"max:{f:g}" for f in self.fraction_of_max]
        return tuple([*out, "otsu"] if self.otsu else out)

    def scoring_dict(self) -> dict[str, Any]:
        """The settings that change a localisation row (part of every row's parameters hash)."""
        return {"thresholds": list(self.thresholds()), "policies": list(self.policies),
                "pointing_tolerance_px": self.pointing_tolerance_px, "box_mode": self.box_mode}

    def block_settings(self) -> dict[str, dict[str, Any]]:
        """Settings of every block the study runs (``metrics``), by block name."""
        return {name: BLOCKS[name].settings_of(self) for name in self.metrics}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (written to ``study.json``)."""
        d = asdict(self)
        d["methods"] = [asdict(m) for m in self.methods]
        return d

    def with_overrides(self, *, folder: str | None = None, limit: int | None = None) -> StudyConfig:
        """The study with ``--data`` / ``--limit`` applied (``limit=0``: every image, whatever the file
        says; None: the file's ``data.limit``)."""
        data = self.data
        if folder:
            data = replace(data, folder=str(folder))
        if limit is not None:
            data = replace(data, limit=int(limit))
        return replace(self, data=data)


def params_hash(method: str, layer: str, params: dict[str, Any], scoring: dict[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of everything that shapes a row besides image and model."""
    blob = json.dumps({"method": method, "layer": layer, "params": params, "scoring": scoring},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# --- reading ----------------------------------------------------------------------------------
def list_presets() -> dict[str, str]:
    """Preset name -> its one-line description, from ``resources/studies/*.yaml``."""
    out: dict[str, str] = {}
    for path in sorted(presets_dir().glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            doc = {}
        out[path.stem] = str(doc.get("description", "")).strip().splitlines()[0] if doc.get("description") else ""
    return out


def study_source(spec: str) -> Path:
    """The YAML file that ``spec`` (a path or ``preset:NAME``) names.

    Raises:
        StudyConfigError: Unknown preset or missing file.
    """
    if spec.startswith("preset:"):
        name = spec.partition(":")[2].strip()
        path = presets_dir() / f"{name}.yaml"
        if not path.is_file():
            raise StudyConfigError([ConfigProblem(0, "preset", f"unknown preset {name!r}",
                                                  ", ".join(list_presets()) or "none installed")], path=spec)
        return path
    path = Path(spec)
    if not path.is_file():
        raise StudyConfigError([ConfigProblem(0, "file", "study file not found",
                                              "a YAML file or preset:NAME (radlens study presets)")], path=path)
    return path


def load_study(spec: str) -> StudyConfig:
    """Read and validate a study file or ``preset:NAME``.

    Raises:
        StudyConfigError: With every problem found (line numbers, accepted values).
    """
    path = study_source(spec)
    return parse_study(path.read_text(encoding="utf-8"), source=spec, path=path)


def parse_study(text: str, *, source: str = "<string>", path: Path | None = None) -> StudyConfig:
    """Validate study YAML text (see :func:`load_study`)."""
    where = path if path is not None else source
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise StudyConfigError([ConfigProblem(line, "yaml", f"not valid YAML ({getattr(exc, 'problem', exc)})")],
                               path=where) from exc
    v = _Validator(_line_map(root))
    if not isinstance(doc, dict):
        raise StudyConfigError([ConfigProblem(1, "study", "must be a mapping of keys", ", ".join(_TOP_KEYS))],
                               path=where)
    cfg = v.study(doc, source)
    if v.problems:
        raise StudyConfigError(v.problems, path=where)
    assert cfg is not None
    return cfg


def default_block_settings() -> dict[str, dict[str, Any]]:
    """Block name -> the settings of every registered block in a study that sets none of them."""
    cfg = parse_study("name: defaults\n")
    return {name: block.settings_of(cfg) for name, block in BLOCKS.items()}


def _line_map(node: yaml.Node | None, key: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """Dotted key -> 1-based line of its value (and ``key#k`` -> line of the key itself)."""
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(key, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, val in node.value:
            child = f"{key}.{k.value}" if key else str(k.value)
            out[f"{child}#k"] = k.start_mark.line + 1
            _line_map(val, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, val in enumerate(node.value):
            _line_map(val, f"{key}[{i}]", out)
    return out


class _Validator:
    """Collects :class:`ConfigProblem` s while building the config."""

    def __init__(self, lines: dict[str, int]) -> None:
        self.lines = lines
        self.problems: list[ConfigProblem] = []

    def bad(self, key: str, message: str, accepted: str = "") -> None:
        line = self.lines.get(key) or self.lines.get(key.rpartition(".")[0], 0)
        self.problems.append(ConfigProblem(line, key, message, accepted))

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(key, f"must be a mapping, not {type(value).__name__}", ", ".join(allowed))
            return {}
        for k in value:
            if k not in allowed:
                full = f"{key}.{k}" if key else str(k)
                self.problems.append(ConfigProblem(self.lines.get(f"{full}#k", 0), full, "unknown key",
                                                   ", ".join(allowed)))
        return value

    def choice(self, value: Any, key: str, options: tuple[str, ...]) -> str | None:
        if not isinstance(value, str) or value not in options:
            self.bad(key, f"{value!r} is not allowed", ", ".join(options))
            return None
        return value

    def number(self, value: Any, key: str, check: Callable[[float], bool], accepted: str) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not check(float(value)):
            self.bad(key, f"{value!r} is not allowed", accepted)
            return None
        return float(value)

    def fractions(self, value: Any, key: str) -> tuple[float, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.bad(key, "must be a list of fractions", "numbers in (0, 1]")
            return ()
        out = [self.number(f, f"{key}[{i}]", lambda x: 0.0 < x <= 1.0, "a fraction in (0, 1]")
               for i, f in enumerate(value)]
        return tuple(f for f in out if f is not None)

    def strings(self, value: Any, key: str, accepted: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.bad(key, "must be a non-empty list", accepted)
            return ()
        good = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.bad(f"{key}[{i}]", f"{item!r} is not a name", accepted)
            else:
                good.append(item.strip())
        return tuple(good)

    # --- sections ---------------------------------------------------------------------------
    def study(self, doc: dict[str, Any], source: str) -> StudyConfig | None:
        self.mapping(doc, "", _TOP_KEYS)
        name = doc.get("name", Path(source).stem)
        if not isinstance(name, str) or not name.strip():
            self.bad("name", f"{name!r} is not a name", "a non-empty string")
            name = ""
        description = doc.get("description") or ""
        if not isinstance(description, str):
            self.bad("description", "must be text", "a string")
            description = ""
        data = self.data(doc.get("data"))
        models = self.strings(doc.get("models", ["default"]), "models", "bundle folders or 'default'")
        methods = self.methods(doc.get("methods"))
        metrics = self.strings(doc.get("metrics", ["localisation"]), "metrics", ", ".join(METRIC_BLOCKS))
        for i, m in enumerate(metrics):
            if m not in METRIC_BLOCKS:
                later = " (planned, not in this version)" if m in PLANNED_BLOCKS else ""
                self.bad(f"metrics[{i}]", f"unknown metric block {m!r}{later}", ", ".join(METRIC_BLOCKS))
        if len(set(metrics)) != len(metrics):
            self.bad("metrics", "a block is listed twice", "each block once")
        # every block's sections are validated (also those of blocks the study does not run)
        settings = {name: block.validate(self, doc) for name, block in BLOCKS.items()}
        loc = settings["localisation"]
        run = self.mapping(doc.get("run"), "run", _RUN_KEYS)
        batch = run.get("batch_size", 4)
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 4096:
            self.bad("run.batch_size", f"{batch!r} is not allowed", "an integer 1..4096")
            batch = 4
        if self.problems:
            return None
        return StudyConfig(
            name=str(name).strip(), description=description.strip(), data=data, models=models,
            methods=methods, top_fractions=loc["top_fractions"], fraction_of_max=loc["fraction_of_max"],
            otsu=loc["otsu"], metrics=metrics, policies=loc["policies"],
            pointing_tolerance_px=loc["pointing_tolerance_px"], box_mode=loc["box_mode"], batch_size=int(batch),
            blocks={k: v for k, v in settings.items() if k != "localisation"}, source=source,
        )

    def data(self, value: Any) -> DataSpec:
        d = self.mapping(value, "data", _DATA_KEYS)
        folder = d.get("folder") or ""
        if not isinstance(folder, str):
            self.bad("data.folder", f"{folder!r} is not a folder", "a path")
            folder = ""
        fmt = self.choice(d.get("format", "auto"), "data.format", FORMATS) or "auto"
        ann = d.get("annotations") or ""
        if not isinstance(ann, str):
            self.bad("data.annotations", f"{ann!r} is not a file name", "a path relative to data.folder")
            ann = ""
        split = d.get("split", "all")
        split_file, subset = "", "test"
        if isinstance(split, dict):
            self.mapping(split, "data.split", ("file", "subset"))
            split_file = split.get("file") or ""
            if not isinstance(split_file, str) or not split_file:
                self.bad("data.split.file", f"{split_file!r} is not a file", "the split.json of radlens train")
                split_file = ""
            raw_subset = split.get("subset", "test")
            if isinstance(raw_subset, list):  # several subsets, e.g. [val, test] for the classification block
                picked = [self.choice(s, f"data.split.subset[{i}]", SUBSETS) for i, s in enumerate(raw_subset)]
                subset = "+".join(s for s in picked if s) or "test"
            else:
                subset = self.choice(raw_subset, "data.split.subset", SUBSETS) or "test"
        elif split != "all":
            self.bad("data.split", f"{split!r} is not allowed", "all, or {file: split.json, subset: test}")
        limit = d.get("limit", 0)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            self.bad("data.limit", f"{limit!r} is not allowed", "an integer >= 0 (0 = all)")
            limit = 0
        return DataSpec(folder, fmt, ann, split_file, subset, int(limit))

    def methods(self, value: Any) -> tuple[MethodSpec, ...]:
        from engine.errors import RadLensError
        from engine.explainers import api as _api  # noqa: F401 - registers the methods
        from engine.explainers.base import get_method, registered

        names = ", ".join(registered())
        if value is None:
            value = [{"name": "gradcam"}]
        if not isinstance(value, list) or not value:
            self.bad("methods", "must be a non-empty list", "a list of {name, layers, params}")
            return ()
        out = []
        for i, item in enumerate(value):
            key = f"methods[{i}]"
            if isinstance(item, str):
                item = {"name": item}
            m = self.mapping(item, key, _METHOD_KEYS)
            if not m:
                continue
            name = m.get("name")
            try:
                cls = get_method(str(name))
            except RadLensError:
                self.bad(f"{key}.name", f"unknown method {name!r}", names)
                continue
            params = m.get("params") or {}
            if not isinstance(params, dict):
                self.bad(f"{key}.params", "must be a mapping", ", ".join(p.name for p in cls.params))
                params = {}
            for pname, pval in params.items():
                known = {p.name: p for p in cls.params}
                if pname not in known:
                    self.problems.append(ConfigProblem(self.lines.get(f"{key}.params.{pname}#k", 0),
                                                       f"{key}.params.{pname}", f"{cls.name} has no such parameter",
                                                       ", ".join(known) or "none"))
                    continue
                try:
                    known[pname].check(pval, cls.name)
                except RadLensError as exc:
                    self.bad(f"{key}.params.{pname}", str(exc.problem), _param_accepts(known[pname]))
            if cls.uses_layers():
                layers = self.strings(m.get("layers", [DEFAULT_LAYER]), f"{key}.layers",
                                      "module names (radlens layers) or 'default'")
            else:
                if "layers" in m:
                    self.bad(f"{key}.layers", f"{cls.name} explains with respect to the input and takes no layers",
                             "leave 'layers' out")
                layers = ()
            out.append(MethodSpec(cls.name, layers, dict(params)))
        return tuple(out)


def _param_accepts(p: Any) -> str:
    if getattr(p, "choices", None):
        return ", ".join(str(c) for c in p.choices)
    lo, hi = getattr(p, "minimum", None), getattr(p, "maximum", None)
    kind = getattr(getattr(p, "kind", None), "__name__", "value")
    if lo is not None or hi is not None:
        return f"{kind} in [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
    return kind
