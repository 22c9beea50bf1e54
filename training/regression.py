"""Regression training (``model.task: regression``): continuous targets from a CSV, MSE or Huber loss.

The data are an image folder plus a targets CSV (``data.targets``, default ``targets.csv``, which
``radlens phantom`` writes with each image's cardiothoracic ratio): one row per image, the image
id in ``data.image_column``, the predicted columns in ``data.target_columns``.

Targets are standardised on the training split (``train.standardise_targets``): the network learns
``(y - mean) / std``, and after training the affine is folded into the last Linear layer
(``W' = std W``, ``b' = std b + mean``), so the bundle's raw output is the value in its unit and
the engine needs no de-normalisation step. Validation reports MAE, RMSE, R² and Pearson r per
output (:func:`training.metrics.regression_report`); the best epoch is the one with the highest
mean validation R².
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from engine.atomic import atomic_write_text
from engine.models.bundle import build_architecture
from engine.runtime import library_versions
from training.augment import build_augment
from training.cache import ImageCache, build_cache
from training.calibration import head_linear
from training.config import DataConfig, TrainConfig
from training.datasets import Example, LabelledData, TrainDataError, image_folder, scan_images
from training.export import export_bundle, json_safe, manifest_from_config
from training.loop import CachedDataset, amp_dtype, build_optimizer, build_scheduler, predict_logits, train_one_epoch
from training.metrics import regression_report
from training.splits import patient_split, resolve_patients

DEFAULT_TARGETS = "targets.csv"


def targets_file(cfg: DataConfig) -> Path:
    """The targets CSV of a regression data set."""
    return Path(cfg.root) / (cfg.targets or DEFAULT_TARGETS)


def read_regression_data(cfg: DataConfig) -> LabelledData:
    """Images with their continuous targets (``labels`` hold the target values), sorted by id.

    Raises:
        TrainDataError: The CSV or a column is missing, a value is not a finite number, or no
            image matches a row.
    """
    images = scan_images(image_folder(cfg))
    path = targets_file(cfg)
    if not path.is_file():
        raise TrainDataError("targets CSV not found.", path=path,
                             fix="set data.targets (relative to data.root); `radlens phantom` writes targets.csv.")
    columns = list(cfg.target_columns)
    values: dict[str, np.ndarray] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in [cfg.image_column, *columns] if c not in header]
        if missing:
            raise TrainDataError(f"the targets CSV has no column(s) {missing} (it has {header}).", path=path,
                                 fix="set data.image_column and data.target_columns to columns of the file.")
        for line, row in enumerate(reader, start=2):
            try:
                vec = np.array([float(row[c]) for c in columns], dtype=np.float32)
            except (TypeError, ValueError):
                raise TrainDataError(f"line {line}: a target is not a number ({[row[c] for c in columns]}).",
                                     path=path, fix="every target cell must hold a number.") from None
            if not np.all(np.isfinite(vec)):
                raise TrainDataError(f"line {line}: a target is not finite.", path=path, fix="repair the row.")
            values[Path(row[cfg.image_column].strip()).stem] = vec
    ids = sorted(k for k in values if k in images)
    if cfg.limit:
        ids = ids[: cfg.limit]
    if not ids:
        raise TrainDataError("no image of the targets CSV was found in the image folder.", path=image_folder(cfg),
                             fix=f"the ids in {path.name} must match image file names (without extension).")
    examples = tuple(Example(k, images[k], values[k]) for k in ids)
    matrix = np.stack([e.labels for e in examples])
    description: dict[str, object] = {
        "format": cfg.format, "root": str(cfg.root), "targets": str(path), "n_images": len(examples),
        "target_columns": columns,
        "target_summary": {c: {"mean": float(matrix[:, i].mean()), "std": float(matrix[:, i].std()),
                               "min": float(matrix[:, i].min()), "max": float(matrix[:, i].max())}
                           for i, c in enumerate(columns)},
    }
    return LabelledData(examples, tuple(columns), description)


def initialise_from(module: nn.Module, bundle: str | Path) -> str:
    """Copy every tensor of ``bundle``'s weights whose name and shape match into ``module``.

    Returns:
        A log line saying how many tensors were copied and which were left fresh.

    Raises:
        TrainDataError: The bundle's architecture or input channels differ, or nothing matched.
    """
    from engine.models.bundle import load_model

    source = load_model(bundle)
    own = module.state_dict()
    theirs = source.module.state_dict()
    copied = {k: v for k, v in theirs.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if len(copied) < len(own) // 2:
        raise TrainDataError(f"only {len(copied)} of {len(own)} tensors of {bundle} fit this network.",
                             path=bundle, fix="model.init_from must be a bundle of the same architecture.")
    module.load_state_dict({**own, **{k: v.to(own[k].dtype) for k, v in copied.items()}})
    fresh = sorted(set(own) - set(copied))
    return (f"initialised from {source.name} {source.version} ({len(copied)} tensors; fresh: "
            f"{', '.join(fresh) or 'none'})")


def freeze(module: nn.Module, prefixes: tuple[str, ...]) -> int:
    """Stop training the parameters under ``prefixes``; returns how many tensors were frozen."""
    count = 0
    for name, p in module.named_parameters():
        if any(name == q or name.startswith(q + ".") for q in prefixes):
            p.requires_grad_(False)
            count += 1
    return count


class _FrozenBN(nn.Module):
    """The network whose ``train()`` keeps the frozen modules (BatchNorm statistics) in eval mode."""

    def __init__(self, module: nn.Module, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.module = module
        self.prefixes = prefixes

    def train(self, mode: bool = True) -> _FrozenBN:
        self.module.train(mode)
        for name, sub in self.module.named_modules():
            if any(name == q or name.startswith(q + ".") for q in self.prefixes):
                sub.eval()
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


def regression_loss(cfg: TrainConfig) -> nn.Module:
    """MSE (``loss: mse`` or ``auto``) or Huber with ``huber_delta`` (in standardised units)."""
    if cfg.train.loss == "huber":
        return nn.HuberLoss(delta=cfg.train.huber_delta)
    return nn.MSELoss()


@torch.no_grad()
def fold_standardisation(module: nn.Module, mean: np.ndarray, std: np.ndarray) -> None:
    """Make the last Linear layer output ``std * y + mean`` (raw values) instead of ``y``."""
    head = head_linear(module)
    s = torch.as_tensor(std, dtype=head.weight.dtype, device=head.weight.device)
    m = torch.as_tensor(mean, dtype=head.weight.dtype, device=head.weight.device)
    head.weight.mul_(s[:, None])
    if head.bias is None:
        head.bias = nn.Parameter(m.clone(), requires_grad=False)
    else:
        head.bias.mul_(s).add_(m)


def run_regression(cfg: TrainConfig, device: torch.device, out: Path, command: str,
                   log: Any, stop_after: int | None = None) -> tuple[Path | None, dict[str, Any], int]:
    """Train a regression model as ``cfg`` says and export its bundle (single process).

    Returns:
        ``(bundle folder or None when stopped early by stop_after, metrics, epochs run)``.
    """
    amp = amp_dtype(cfg.train.amp, device)
    show = sys.stderr.isatty()
    data = read_regression_data(cfg.data)
    manifest = manifest_from_config(cfg, data.classes)
    t0 = time.perf_counter()
    cache: ImageCache = build_cache([e.path for e in data.examples], manifest, workers=cfg.train.cache_workers)
    log(f"cache: {len(cache)} images at {manifest.input_size[0]}x{manifest.input_size[1]} "
        f"({cache.nbytes / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s")
    patients, patient_note = resolve_patients(cfg.data, data.examples, cache.patient_ids)
    split = patient_split(patients, cfg.data.val_fraction, cfg.data.test_fraction, cfg.seed)
    y = data.label_matrix().astype(np.float64)
    train_idx, val_idx, test_idx = list(split.train), list(split.val), list(split.test)
    if len(train_idx) < 2 or not val_idx:
        raise TrainDataError(f"the split left {len(train_idx)} training and {len(val_idx)} validation images.",
                             fix="use more images or patients, or change data.val_fraction.")
    ids = [e.image_id for e in data.examples]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "split.json", json.dumps(split.to_dict(ids)) + "\n")
    log(f"split by patient ({patient_note}): " + ", ".join(f"{k} {v}" for k, v in split.summary().items()))
    if cfg.train.standardise_targets:
        mean = y[train_idx].mean(axis=0)
        std = np.maximum(y[train_idx].std(axis=0), 1e-8)
    else:
        mean, std = np.zeros(y.shape[1]), np.ones(y.shape[1])
    targets = torch.from_numpy(((y - mean) / std).astype(np.float32))

    module = build_architecture(manifest)
    if cfg.model.init_from:
        log(initialise_from(module, cfg.model.init_from))
    frozen = freeze(module, cfg.train.freeze)
    if frozen:
        log(f"frozen: {', '.join(cfg.train.freeze)} ({frozen} parameter tensors)")
    module = module.to(device)
    criterion = regression_loss(cfg)
    dataset = CachedDataset(cache.pixels, targets, train_idx, build_augment(cfg.augment))
    steps = max(1, -(-len(dataset) // cfg.train.batch_size))
    optimizer = build_optimizer([p for p in module.parameters() if p.requires_grad], cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, steps, cfg.train.epochs)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16 and device.type == "cuda")
    best: dict[str, Any] = {"metric": -math.inf, "epoch": -1, "model": None}
    history: list[dict[str, Any]] = []
    bad = 0
    epochs_run = 0
    for epoch in range(cfg.train.epochs):
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        loader = DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=True, generator=generator,
                            num_workers=cfg.train.num_workers, drop_last=len(dataset) > cfg.train.batch_size)
        train_loss = train_one_epoch(_FrozenBN(module, cfg.train.freeze), loader, criterion, optimizer, scheduler,
                                     scaler, manifest, device, amp,
                                     show_progress=show, desc=f"epoch {epoch + 1}/{cfg.train.epochs}")
        raw = predict_logits(module, cache.pixels, val_idx, manifest, device, cfg.train.batch_size, amp).double()
        val_loss = float(criterion(raw.float(), targets[val_idx]))
        pred = raw.numpy() * std + mean
        report = regression_report(y[val_idx], pred, manifest.class_names)
        r2 = float(report["mean_r2"])
        improved = math.isfinite(r2) and r2 > best["metric"] + cfg.train.min_delta
        if improved or best["model"] is None:
            best = {"metric": r2 if math.isfinite(r2) else best["metric"], "epoch": epoch,
                    "model": {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}}
            bad = 0
        else:
            bad += 1
        seconds = time.perf_counter() - start
        first = manifest.class_names[0]
        entry = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "val_mean_r2": r2,
                 "val_mae": report["per_output"][first]["mae"], "lr": scheduler.get_last_lr()[0],
                 "seconds": seconds, "best_epoch": best["epoch"] + 1}
        history.append(entry)
        epochs_run += 1
        with (out / "log.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(json_safe(entry)) + "\n")
        log(f"epoch {epoch + 1}/{cfg.train.epochs}  train loss {train_loss:.4f}  val loss {val_loss:.4f}  "
            f"val MAE {entry['val_mae']:.4f}  val R2 {r2:.4f}  lr {entry['lr']:.2e}  {seconds:.1f} s"
            + ("  *" if improved else ""))
        if improved:  # a usable bundle after every better epoch: an interrupted run still leaves one
            _export(cfg, best["model"], manifest, mean, std, out, data, patient_note, split, history, best, command,
                    {"val": report})
        if cfg.train.patience > 0 and bad >= cfg.train.patience:
            log(f"early stopping: no better val R2 for {cfg.train.patience} epochs")
            break
        if stop_after is not None and epochs_run >= stop_after:
            return None, {}, epochs_run

    metrics = _export(cfg, best["model"], manifest, mean, std, out, data, patient_note, split, history, best,
                      command, None, cache=cache, val_idx=val_idx, test_idx=test_idx, y=y)
    v = metrics["val"]["per_output"][manifest.class_names[0]]
    log(f"bundle written to {out / 'bundle'}  (val MAE {v['mae']:.4f}, R2 {v['r2']:.4f}, r {v['pearson_r']:.4f})")
    return out / "bundle", metrics, epochs_run


def _export(cfg: TrainConfig, state: dict[str, torch.Tensor], manifest: Any, mean: np.ndarray, std: np.ndarray,
            out: Path, data: LabelledData, patient_note: str, split: Any, history: list[dict[str, Any]],
            best: dict[str, Any], command: str, metrics: dict[str, Any] | None, *, cache: ImageCache | None = None,
            val_idx: list[int] | None = None, test_idx: list[int] | None = None,
            y: np.ndarray | None = None) -> dict[str, Any]:
    """Fold the standardisation into a copy of the best weights and write ``out/bundle``."""
    module = build_architecture(manifest)
    module.load_state_dict(state)
    fold_standardisation(module, mean, std)
    cpu = torch.device("cpu")
    if metrics is None:
        assert cache is not None and val_idx is not None and y is not None
        val_pred = predict_logits(module, cache.pixels, val_idx, manifest, cpu, cfg.train.batch_size).numpy()
        metrics = {"val": regression_report(y[val_idx], val_pred, manifest.class_names)}
        if test_idx:
            metrics["test"] = regression_report(y[test_idx], predict_logits(
                module, cache.pixels, test_idx, manifest, cpu, cfg.train.batch_size).numpy(), manifest.class_names)
    metrics = {**metrics, "loss": cfg.train.loss if cfg.train.loss != "auto" else "mse",
               "target_standardisation": {"mean": mean.tolist(), "std": std.tolist(),
                                          "folded": "into the last Linear layer: output = std * y + mean"}}
    provenance = {
        "trained_by": "radlens train",
        "command": command or "radlens train --config <config.yaml>",
        "recipe": cfg.to_dict(),
        "data": {**data.description, "patients": patient_note, "split": split.summary(), "split_seed": cfg.seed,
                 "split_file": "split.json (beside the bundle folder)"},
        "metrics": metrics, "best_epoch": best["epoch"] + 1, "history": list(history),
        "versions": library_versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    export_bundle(out / "bundle", module, manifest, (), provenance, overwrite=True)
    atomic_write_text(out / "metrics.json", json.dumps(json_safe(metrics), indent=2) + "\n")
    return metrics
