"""Fixtures of the study tests: one Ray for the session, a tiny phantom set with a corrupt image,
a tiny seeded model bundle, and one uninterrupted in-process reference run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from study_helpers import CORRUPT, N_IMAGES, REPO, study_yaml

from engine.models.bundle import save_bundle
from engine.models.manifest import ModelManifest
from training.phantom import CLASSES, PhantomConfig
from training.phantom.dataset import generate_dataset
from training.study import StudyConfig, parse_study, run_study


@pytest.fixture(scope="session")
def phantom_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 phantom PNGs (128 px, seed 3: three images with boxes), one of them overwritten with junk."""
    out = tmp_path_factory.mktemp("phantom")
    generate_dataset(out, N_IMAGES, 3, PhantomConfig(size=128), fmt="png")
    (out / CORRUPT).write_bytes(b"this is not a PNG")
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded MobileNetV3-small bundle (one input channel, 64 px) with the phantom classes."""
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=len(CLASSES))
    net.features[0][0] = torch.nn.Conv2d(1, 16, 3, 2, 1, bias=False)
    manifest = ModelManifest(name="tiny-study", version="0.1", architecture="mobilenet_v3_small",
                             class_names=tuple(CLASSES), input_size=(64, 64), in_channels=1, mean=(0.5,),
                             std=(0.25,))
    return save_bundle(tmp_path_factory.mktemp("bundle") / "tiny", net, manifest)


@pytest.fixture(scope="session")
def study_cfg(tiny_bundle: Path, phantom_set: Path) -> StudyConfig:
    return parse_study(study_yaml(tiny_bundle)).with_overrides(folder=str(phantom_set))


@pytest.fixture(scope="session")
def reference_run(study_cfg: StudyConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted in-process run (``--workers 0``): the reference every other run must equal."""
    out = tmp_path_factory.mktemp("reference")
    run_study(study_cfg, out, workers=0, progress=False)
    return out


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole session (2 CPUs, no dashboard); workers import this checkout."""
    import ray  # a dependency of RadLens (pyproject): never skipped
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}}
    # address="local": a new Ray of our own. Without it ray.init joins the newest Ray already running on
    # this machine (the two-node Cluster test's in the other xdist worker, a user's) and then fails on
    # num_cpus: this errored the suite once while another Ray ran here.
    ray.init(address="local", num_cpus=2, include_dashboard=False, runtime_env=env, log_to_driver=False)
    yield
    ray.shutdown()
