"""The engine takes a per-network lock: threads sharing one model get exactly the sequential results."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from shared_models import make_manifest
from torch import nn

import engine.models.lock as lock_module
from engine.explainers.api import explain
from engine.models.bundle import LoadedModel
from engine.models.lock import lock_for, model_lock
from engine.perturb.frame import make_frame


class SlowNet(nn.Module):
    """A small CNN whose forward sleeps between its layers, so two unlocked threads interleave."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.features = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.stem(x)
        time.sleep(0.02)
        a = self.relu(self.features(a))
        time.sleep(0.02)
        return self.fc(a.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def slow_model() -> LoadedModel:
    torch.manual_seed(5)
    return LoadedModel.from_module(SlowNet().eval(), make_manifest("slow", 3, 32))


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [rng.random((32, 32)).astype(np.float32) for _ in range(2)]


def _concurrently(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs in threads started together; re-raise the first error."""
    barrier = threading.Barrier(len(jobs))
    out: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            out[i] = jobs[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    return out


def _explain_both(model: LoadedModel, images: list[np.ndarray]) -> list[np.ndarray]:
    def job(img: np.ndarray) -> Callable[[], Any]:
        return lambda: explain(model, img, "gradcam", layers="features", normalisation="raw")

    return [r.native_maps for r in _concurrently([job(img) for img in images])]


def test_two_threads_explaining_one_model_get_the_sequential_results(slow_model: LoadedModel) -> None:
    images = _images()
    sequential = [explain(slow_model, img, "gradcam", layers="features", normalisation="raw").native_maps
                  for img in images]
    assert not np.allclose(sequential[0], sequential[1])  # the two images give different maps
    for _ in range(3):
        together = _explain_both(slow_model, images)
        for got, want in zip(together, sequential, strict=True):
            np.testing.assert_array_equal(got, want)


def test_forwards_of_the_perturbation_frame_do_not_leak_into_an_explanation(slow_model: LoadedModel) -> None:
    images = _images()
    frame = make_frame(slow_model, images[1], "model")
    batch = torch.from_numpy(np.stack([frame.base] * 2))
    want_map = explain(slow_model, images[0], "gradcam", layers="features", normalisation="raw").native_maps
    want_p = frame.probabilities(batch)
    got = _concurrently([lambda: explain(slow_model, images[0], "gradcam", layers="features",
                                         normalisation="raw").native_maps,
                         lambda: frame.probabilities(batch)])
    np.testing.assert_array_equal(got[0], want_map)
    np.testing.assert_array_equal(got[1], want_p)


def test_without_the_lock_the_threads_interfere(slow_model: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: with a fresh lock per call (no mutual exclusion) the maps get mixed up."""
    images = _images()
    sequential = [explain(slow_model, img, "gradcam", layers="features", normalisation="raw").native_maps
                  for img in images]
    monkeypatch.setattr(lock_module, "lock_for", lambda model: threading.RLock())
    mixed = False
    for _ in range(5):
        try:
            together = _explain_both(slow_model, images)
        except Exception:
            mixed = True
            break
        if any(not np.array_equal(g, w) for g, w in zip(together, sequential, strict=True)):
            mixed = True
            break
    assert mixed, "two unlocked threads never interfered: the concurrency test above could not fail"


def test_the_lock_is_per_network_and_reentrant(slow_model: LoadedModel) -> None:
    other = LoadedModel.from_module(slow_model.module, slow_model.manifest)
    assert lock_for(slow_model) is lock_for(other) is lock_for(slow_model.module)
    assert lock_for(nn.Linear(2, 2)) is not lock_for(slow_model)
    with model_lock(slow_model), model_lock(slow_model.module):  # re-entrant: explain inside a held lock
        explain(slow_model, _images()[0], "gradcam", layers="features")
    # another thread waits while the lock is held
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with model_lock(slow_model):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    assert not lock_for(slow_model).acquire(timeout=0.05)
    release.set()
    t.join(10)
    assert lock_for(slow_model).acquire(timeout=1)
    lock_for(slow_model).release()
