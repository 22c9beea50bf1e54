"""``run_training``: data -> cache -> patient split -> epochs -> calibration -> bundle.

Output folder (rank 0 writes it): ``checkpoint.pt`` (after every epoch), ``log.jsonl`` (one
line per epoch), ``split.json`` (image ids and patients per split), ``metrics.json`` and
``bundle/`` (the engine model bundle).
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from engine.atomic import atomic_write_text
from engine.models.bundle import build_architecture
from engine.runtime import library_versions, resolve_device
from training import distributed as dd
from training.augment import build_augment
from training.cache import ImageCache, build_cache
from training.calibration import fit_temperature, fold_temperature
from training.checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from training.config import TrainConfig
from training.datasets import LabelledData, TrainDataError, read_labelled_data
from training.export import export_bundle, json_safe, manifest_from_config
from training.loop import CachedDataset, amp_dtype, build_optimizer, build_scheduler, predict_logits, train_one_epoch
from training.metrics import classification_report, ece, pos_weight, probabilities
from training.splits import Split, patient_split, resolve_patients

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class TrainResult:
    """What a run produced (on rank 0; other ranks get ``bundle=None``)."""

    out_dir: Path
    bundle: Path | None
    metrics: dict[str, Any]
    epochs_run: int


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - the legacy global RNG that libraries use
    torch.manual_seed(seed)


def _targets(labels: np.ndarray, task: str) -> tuple[torch.Tensor, np.ndarray]:
    """Training targets and a mask of usable images (multi-class needs exactly one positive)."""
    if task == "multilabel":
        return torch.from_numpy(labels.astype(np.float32)), np.ones(len(labels), bool)
    usable = labels.sum(axis=1) == 1
    return torch.from_numpy(labels.argmax(axis=1).astype(np.int64)), usable


def _stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_training(
    cfg: TrainConfig, *, out_dir: str | Path | None = None, resume: str | Path | None = None,
    command: str = "", log: LogFn = _stderr_log, stop_after: int | None = None,
) -> TrainResult:
    """Train as ``cfg`` says and export a bundle.

    Args:
        cfg: The recipe.
        out_dir: Output folder (default ``cfg.output.dir``).
        resume: A ``checkpoint.pt`` to continue from (the next epoch).
        command: The command line to record as "how to reproduce".
        log: Receives the plain per-epoch lines (rank 0 only).
        stop_after: Leave after this many epochs of this call, as an interruption would
            (checkpoint written, no bundle); the schedule still spans ``train.epochs``.

    Returns:
        A :class:`TrainResult`.

    Raises:
        TrainDataError, TrainConfigError, CheckpointError, ImageReadError, AnnotationError.
    """
    info = dd.detect()
    device = resolve_device(cfg.train.device if not (info.enabled and cfg.train.device == "auto"
                                                     and torch.cuda.is_available())
                            else f"cuda:{info.local_rank}")
    if cfg.model.task == "regression":
        return _run_regression(cfg, info, device, Path(out_dir or cfg.output.dir), resume, command, log, stop_after)
    dd.setup(info, device)
    try:
        return _run(cfg, info, device, Path(out_dir or cfg.output.dir), resume, command,
                    log if info.is_main else (lambda _s: None), stop_after)
    finally:
        dd.teardown(info)


def _run(cfg: TrainConfig, info: dd.DistInfo, device: torch.device, out: Path, resume: str | Path | None,
         command: str, log: LogFn, stop_after: int | None = None) -> TrainResult:
    seed_everything(cfg.seed)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    amp = amp_dtype(cfg.train.amp, device)
    show = info.is_main and sys.stderr.isatty()
    data = read_labelled_data(cfg.data)
    manifest = manifest_from_config(cfg, data.classes)
    t0 = time.perf_counter()
    cache = _cache(data, manifest, cfg, show)
    log(f"cache: {len(cache)} images at {manifest.input_size[0]}x{manifest.input_size[1]} "
        f"({cache.nbytes / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s")
    patients, patient_note = resolve_patients(cfg.data, data.examples, cache.patient_ids)
    split = patient_split(patients, cfg.data.val_fraction, cfg.data.test_fraction, cfg.seed)
    labels = data.label_matrix()
    targets, usable = _targets(labels, cfg.model.task)
    train_idx = [i for i in split.train if usable[i]]
    val_idx = [i for i in split.val if usable[i]]
    test_idx = [i for i in split.test if usable[i]]
    if not train_idx or not val_idx:
        raise TrainDataError(f"the split left {len(train_idx)} training and {len(val_idx)} validation images.",
                             fix="use more images or patients, or change data.val_fraction.")
    ids = [e.image_id for e in data.examples]
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "split.json", json.dumps(split.to_dict(ids)) + "\n")
    log(f"split by patient ({patient_note}): " + ", ".join(f"{k} {v}" for k, v in split.summary().items()))

    module = build_architecture(manifest).to(device)
    model: nn.Module = module
    if info.enabled:
        gpu = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(module, device_ids=gpu)
    if cfg.model.task == "multilabel":
        weight = pos_weight(labels[train_idx]) if cfg.train.pos_weight else None
        criterion: nn.Module = nn.BCEWithLogitsLoss(pos_weight=weight.to(device) if weight is not None else None)
    else:
        weight = None
        criterion = nn.CrossEntropyLoss()
    dataset = CachedDataset(cache.pixels, targets, train_idx, build_augment(cfg.augment))
    sampler: DistributedSampler[int] | None = None
    if info.enabled:
        sampler = DistributedSampler(dataset, info.world_size, info.rank, shuffle=True, seed=cfg.seed)
    per_process = len(sampler) if sampler is not None else len(dataset)
    steps = max(1, -(-per_process // cfg.train.batch_size))
    optimizer = build_optimizer(model.parameters(), cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, steps, cfg.train.epochs)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16 and device.type == "cuda")

    state: dict[str, Any] = {"epoch": -1, "best_metric": float("-inf"), "best_epoch": -1, "bad_epochs": 0,
                             "history": [], "best_model": None}
    if resume:
        state = _restore(resume, module, optimizer, scheduler, scaler, data, cfg)
        log(f"resumed from {resume}: epoch {state['epoch'] + 1} done, best macro AUC "
            f"{state['best_metric']:.4f} at epoch {state['best_epoch'] + 1}")

    epochs_run = 0
    for epoch in range(state["epoch"] + 1, cfg.train.epochs):
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        loader = DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=sampler is None,
                            sampler=sampler, num_workers=cfg.train.num_workers, generator=generator,
                            drop_last=False, persistent_workers=False)
        train_loss = train_one_epoch(model, loader, criterion, optimizer, scheduler, scaler, manifest, device, amp,
                                     show_progress=show, desc=f"epoch {epoch + 1}/{cfg.train.epochs}")
        val_logits = predict_logits(module, cache.pixels, val_idx, manifest, device, cfg.train.batch_size, amp)
        val_probs = probabilities(val_logits, cfg.model.task).numpy()
        report = classification_report(labels[val_idx], val_probs, data.classes)
        auc = float(report["macro_auc"])  # type: ignore[arg-type]
        val_loss = float(criterion(val_logits.to(device), targets[val_idx].to(device)))
        improved = not np.isnan(auc) and auc > state["best_metric"] + cfg.train.min_delta
        if improved or state["best_model"] is None:
            state["best_metric"] = auc if not np.isnan(auc) else state["best_metric"]
            state["best_epoch"] = epoch
            state["bad_epochs"] = 0
            state["best_model"] = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        seconds = time.perf_counter() - start
        entry = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "val_macro_auc": auc,
                 "lr": scheduler.get_last_lr()[0], "seconds": seconds, "best_epoch": state["best_epoch"] + 1}
        state["history"].append(entry)
        state["epoch"] = epoch
        epochs_run += 1
        if info.is_main:
            _write_checkpoint(out, state, module, optimizer, scheduler, scaler, cfg, data)
            with (out / "log.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(json_safe(entry)) + "\n")
        log(f"epoch {epoch + 1}/{cfg.train.epochs}  train loss {train_loss:.4f}  val loss {val_loss:.4f}  "
            f"val macro AUC {auc:.4f}  lr {entry['lr']:.2e}  {seconds:.1f} s" + ("  *" if improved else ""))
        stop = cfg.train.patience > 0 and state["bad_epochs"] >= cfg.train.patience
        if dd.broadcast(info, stop):
            log(f"early stopping: no better val macro AUC for {cfg.train.patience} epochs")
            break
        if stop_after is not None and epochs_run >= stop_after:
            log(f"stopped after {epochs_run} epoch(s); continue with --resume {out / 'checkpoint.pt'}")
            return TrainResult(out, None, {}, epochs_run)

    metrics: dict[str, Any] = {}
    bundle = None
    if info.is_main:
        module.load_state_dict(state["best_model"])
        metrics = _finish(cfg, module, cache, labels, data, split, val_idx, test_idx, manifest, device, amp, weight)
        provenance = _provenance(cfg, data, split, patient_note, metrics, state, command)
        bundle = export_bundle(out / "bundle", module.cpu(), manifest, metrics["thresholds"], provenance,
                               overwrite=cfg.output.overwrite)
        atomic_write_text(out / "metrics.json", json.dumps(json_safe(metrics), indent=2) + "\n")
        log(f"bundle written to {bundle}  (val macro AUC {metrics['val']['macro_auc']:.4f}, "
            f"T = {metrics['temperature']:.3f}, ECE {metrics['ece_val_before']:.4f} -> {metrics['ece_val_after']:.4f})")
    dd.barrier(info)
    return TrainResult(out, bundle, metrics, epochs_run)


def _run_regression(cfg: TrainConfig, info: dd.DistInfo, device: torch.device, out: Path,
                    resume: str | Path | None, command: str, log: LogFn, stop_after: int | None) -> TrainResult:
    """``model.task: regression`` (:mod:`training.regression`): one process, no resume yet."""
    from training.config import TrainConfigError
    from training.regression import run_regression

    if info.enabled or resume:
        raise TrainConfigError("regression training runs in one process and cannot resume yet.",
                               fix="run `radlens train` without torchrun and without --resume.")
    seed_everything(cfg.seed)
    bundle, metrics, epochs = run_regression(cfg, device, out, command, log, stop_after)
    return TrainResult(out, bundle, metrics, epochs)


def _cache(data: LabelledData, manifest: Any, cfg: TrainConfig, show: bool) -> ImageCache:
    from tqdm import tqdm

    bar = tqdm(total=len(data.examples), desc="decoding", leave=False, disable=not show, file=sys.stderr)

    def progress(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    try:
        return build_cache([e.path for e in data.examples], manifest, workers=cfg.train.cache_workers,
                           progress=progress)
    finally:
        bar.close()


def _write_checkpoint(out: Path, state: dict[str, Any], module: nn.Module, optimizer: torch.optim.Optimizer,
                      scheduler: Any, scaler: torch.amp.GradScaler, cfg: TrainConfig, data: LabelledData) -> None:
    save_checkpoint(out / "checkpoint.pt", {
        "model": module.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(), "epoch": state["epoch"], "best_metric": state["best_metric"],
        "best_epoch": state["best_epoch"], "bad_epochs": state["bad_epochs"], "history": json_safe(state["history"]),
        "best_model": state["best_model"], "rng": rng_state(), "config": cfg.to_dict(),
        "classes": list(data.classes),
    })


def _restore(path: str | Path, module: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
             scaler: torch.amp.GradScaler, data: LabelledData, cfg: TrainConfig) -> dict[str, Any]:
    ckpt = load_checkpoint(path)
    if list(ckpt.get("classes", [])) != list(data.classes):
        raise CheckpointError(f"the checkpoint's classes {ckpt.get('classes')} differ from the data's "
                              f"{list(data.classes)}.", path=path, fix="resume with the config it was trained with.")
    if ckpt["config"].get("model") != cfg.to_dict()["model"]:
        raise CheckpointError("the checkpoint was trained with another model section.", path=path,
                              fix="resume with the config it was trained with.")
    module.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    history = [{k: (float("nan") if v is None else v) for k, v in h.items()} for h in ckpt["history"]]
    return {"epoch": int(ckpt["epoch"]), "best_metric": float(ckpt["best_metric"]),
            "best_epoch": int(ckpt["best_epoch"]), "bad_epochs": int(ckpt["bad_epochs"]), "history": history,
            "best_model": ckpt["best_model"]}


def _finish(cfg: TrainConfig, module: nn.Module, cache: ImageCache, labels: np.ndarray, data: LabelledData,
            split: Split, val_idx: list[int], test_idx: list[int], manifest: Any, device: torch.device,
            amp: torch.dtype | None,            weight: torch.Tensor | None) -> dict[str, Any]:
    """Calibrate on validation, fold T into the head, tune thresholds, score val and test."""
    task = cfg.model.task
    val_logits = predict_logits(module, cache.pixels, val_idx, manifest, device, cfg.train.batch_size, amp)
    y_val = labels[val_idx]
    before = ece(probabilities(val_logits, task).numpy(), y_val, task)
    temperature = 1.0
    if cfg.train.calibrate:
        temperature = fit_temperature(val_logits, torch.from_numpy(y_val), task)
        fold_temperature(module, temperature)
        val_logits = predict_logits(module, cache.pixels, val_idx, manifest, device, cfg.train.batch_size, amp)
    val_probs = probabilities(val_logits, task).numpy()
    val_report = classification_report(y_val, val_probs, data.classes)
    thresholds = [val_report["per_class"][c]["threshold"] for c in data.classes]  # type: ignore[index]
    metrics: dict[str, Any] = {
        "val": val_report, "temperature": temperature, "ece_val_before": before,
        "ece_val_after": ece(val_probs, y_val, task), "ece_bins": 15, "thresholds": thresholds,
        "pos_weight": weight.tolist() if weight is not None else None,
        "threshold_rule": "per class, maximises F1 on the calibrated validation probabilities",
    }
    if test_idx:
        test_probs = probabilities(
            predict_logits(module, cache.pixels, test_idx, manifest, device, cfg.train.batch_size, amp), task
        ).numpy()
        metrics["test"] = classification_report(labels[test_idx], test_probs, data.classes, thresholds)
        metrics["ece_test"] = ece(test_probs, labels[test_idx], task)
    return metrics


def _provenance(cfg: TrainConfig, data: LabelledData, split: Split, patient_note: str, metrics: dict[str, Any],
                state: dict[str, Any], command: str) -> dict[str, Any]:
    return {
        "trained_by": "radlens train",
        "command": command or "radlens train --config <config.yaml>",
        "recipe": cfg.to_dict(),
        "data": {**data.description, "patients": patient_note, "split": split.summary(),
                 "split_seed": cfg.seed, "split_file": "split.json (beside the bundle folder)"},
        "metrics": {k: metrics[k] for k in ("val", "test", "temperature", "ece_val_before", "ece_val_after",
                                            "ece_test", "ece_bins", "threshold_rule") if k in metrics},
        "best_epoch": state["best_epoch"] + 1,
        "history": state["history"],
        "calibration": "temperature scaling folded into the final Linear layer (logits / T)"
        if cfg.train.calibrate else "none",
        "versions": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
