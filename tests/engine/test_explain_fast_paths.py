"""The cheaper paths of a process's first explanation (issue #19): they give what the former ones gave."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from shared_models import TinyNet

from engine import explain, list_layers
from engine.errors import ExplainError
from engine.explainers.hooks import class_vjp
from engine.models.bundle import LoadedModel, load_model, save_bundle
from engine.models.manifest import ModelManifest


def test_class_vjp_equals_torchs_batched_one_hot_vjp_bit_for_bit():
    torch.manual_seed(3)
    net = TinyNet(classes=4).eval()
    x = torch.randn(2, 3, 16, 16)
    a = net.act(net.stem(x)).detach().requires_grad_(True)  # two inputs in the graph: a leaf and a later node
    b = net.features(a)
    scores = net.fc(net.pool(net.relu(b)).flatten(1))
    unused = torch.zeros(5, requires_grad=True)
    classes = [2, 0, 3]
    onehot = torch.zeros(len(classes), *scores.shape)
    for i, c in enumerate(classes):
        onehot[i, :, c] = 1
    ref_a, ref_b = torch.autograd.grad(scores, [a, b], onehot, is_grads_batched=True, retain_graph=True)
    for batched in (None, False, True):  # None on the CPU: one backward per class; True: the CUDA path
        b = net.features(a)  # a fresh graph each time: the last backward per class frees it
        scores = net.fc(net.pool(net.relu(b)).flatten(1))
        ga, gb, gu = class_vjp(scores, [a, b, unused], classes, batched=batched)
        assert ga.shape == (3, 2, 8, 8, 8) and gb.shape == (3, 2, 8, 4, 4)
        assert torch.equal(ga, ref_a) and torch.equal(gb, ref_b)
        assert torch.equal(gu, torch.zeros(3, 5))
        assert ga.abs().sum() > 0


# --- the survey: one forward lists the layers and checks the head; a bundle surveyed before needs none ---


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(4)
    folder = tmp_path_factory.mktemp("survey") / "b"
    net = torchvision.models.resnet18(num_classes=3).eval()
    save_bundle(folder, net, ModelManifest(name="m", version="1", architecture="resnet18",
                                           class_names=("a", "b", "c"), input_size=(64, 64)))
    return folder


def _forwards(model: LoadedModel) -> list[int]:
    calls = [0]
    model.module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_a_bundle_surveyed_before_explains_with_one_forward(small_bundle, monkeypatch, tmp_path):
    monkeypatch.setenv("RADLENS_CACHE_DIR", str(tmp_path))
    image = np.random.default_rng(0).random((80, 90)).astype(np.float32)
    first = load_model(small_bundle)
    calls = _forwards(first)
    r1 = explain(first, image, "gradcam", layers="layer3", alignment="resize")
    assert calls[0] == 2  # the survey (layers and head) and the CAM's forward
    assert len(list((tmp_path / "survey").glob("*.json"))) == 1
    again = load_model(small_bundle)  # a new module: nothing of the first is remembered in memory
    calls = _forwards(again)
    r2 = explain(again, image, "gradcam", layers="layer3", alignment="resize")
    assert calls[0] == 1
    np.testing.assert_array_equal(r2.native_maps, r1.native_maps)
    assert r2.notes == r1.notes
    assert list_layers(again) == list_layers(first)
    assert calls[0] == 1
    # a damaged record is surveyed again and rewritten
    (survey_file,) = (tmp_path / "survey").glob("*.json")
    survey_file.write_text("{not json")
    third = load_model(small_bundle)
    calls = _forwards(third)
    assert list_layers(third) == list_layers(first) and calls[0] == 1
    assert json.loads(survey_file.read_text())["output"] == [1, 3]


def test_a_head_that_does_not_fit_the_class_names_is_refused_every_time_and_never_recorded(
    small_bundle, monkeypatch, tmp_path
):
    monkeypatch.setenv("RADLENS_CACHE_DIR", str(tmp_path))
    good = load_model(small_bundle)
    wrong = LoadedModel(good.module, dataclasses.replace(good.manifest, class_names=("a", "b", "c", "d")),
                        good.weights_sha256, good.path, good.device)
    image = np.zeros((64, 64), np.float32)
    for method in ("gradcam", "saliency", "gradcam"):
        with pytest.raises(ExplainError, match=r"outputs shape \(1, 3\) but the bundle lists 4 classes"):
            explain(wrong, image, method)
    assert not list((tmp_path / "survey").glob("*.json"))


def test_a_torchscript_head_is_checked_by_its_own_forward(tmp_path):
    torch.manual_seed(5)
    net = torchvision.models.resnet18(num_classes=3).eval()
    folder = tmp_path / "ts"
    folder.mkdir()
    torch.jit.save(torch.jit.trace(net, torch.randn(1, 3, 64, 64)), str(folder / "model.pt"))
    m = ModelManifest(name="m", version="1", architecture="torchscript", weights="model.pt",
                      class_names=("a", "b", "c", "d"), input_size=(64, 64))
    (folder / "model.json").write_text(json.dumps(m.to_dict()))
    with pytest.raises(ExplainError, match=r"outputs shape \(1, 3\) but the bundle lists 4 classes"):
        explain(load_model(folder), np.zeros((64, 64), np.float32), "saliency")


def test_a_survey_taken_before_a_hook_changes_the_output_does_not_refuse_the_hooked_model():
    """A regression model is explained through a hook that mirrors its output (two columns):
    the survey of the plain network (one column) must not make that explanation fail."""
    torch.manual_seed(6)
    net = torchvision.models.resnet18(num_classes=1)
    manifest = ModelManifest.from_dict({"name": "r", "version": "1", "architecture": "resnet18", "task": "regression",
                                        "outputs": [{"name": "y", "unit": "mm"}], "input_size": [64, 64]})
    model = LoadedModel.from_module(net, manifest)
    assert list_layers(model)  # the plain network surveyed: output (1, 1)
    result = explain(model, np.random.default_rng(1).random((64, 64)).astype(np.float32), "gradcam")
    assert result.is_regression and set(result.direction_maps) == {"raises", "lowers"}


def test_the_built_in_jet_table_is_matplotlibs():
    from matplotlib import colormaps

    from engine.render import colormap_lut

    expected = (colormaps["jet"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
    lut = colormap_lut("jet")
    np.testing.assert_array_equal(lut, expected)
    lut[0] = 7  # each call gives its own array
    np.testing.assert_array_equal(colormap_lut("jet"), expected)


# --- overlays drawn and written in threads: the same files as one after another ---


def test_overlays_written_in_threads_are_the_bytes_written_one_after_another(tmp_path, monkeypatch):
    import engine.cli.explain as cli
    from viewer.cli import main

    demo = Path(cli.__file__).resolve().parents[2] / "resources" / "demo"
    images = [str(demo / "images" / "phantom_00002.dcm")]
    outputs = {}
    for workers in (0, 2):
        monkeypatch.setattr(cli, "OVERLAY_WORKERS", workers)
        out = tmp_path / f"w{workers}"
        assert main(["explain", *images, "--annotations", str(demo / "train.csv"), "--threshold", "top:0.1",
                     "--out", str(out)]) == 0
        outputs[workers] = out
    serial = sorted(p.name for p in outputs[0].glob("*.png"))
    assert len(serial) == 5 and serial == sorted(p.name for p in outputs[2].glob("*.png"))
    for name in serial:
        assert (outputs[0] / name).read_bytes() == (outputs[2] / name).read_bytes(), name

    def comparable(folder: Path) -> list[dict]:
        doc = json.loads((folder / "results.json").read_text())
        for entry in doc["images"]:
            entry["explanation"].pop("created"), entry["explanation"].pop("elapsed_s")
        return doc["images"]

    runs = [comparable(outputs[w]) for w in (0, 2)]
    assert runs[0] == runs[1]
    assert any(r["localisation"][c]["iou_ground_truth"] for r in runs[0] for c in r["localisation"])  # GT drawn, scored


def test_radlens_explain_returns_freed_full_size_buffers_to_the_system():
    """glibc keeps a freed 20 MiB block in the heap once its dynamic threshold has risen; with the
    threshold radlens explain sets, the second block is mapped and returned too (a fresh process)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "if sys.argv[1] == '1':\n"
        "    from engine.cli.explain import _map_large_buffers\n"
        "    _map_large_buffers()\n"
        "base = rss()\n"
        "for _ in range(2):\n"
        "    a = np.ones(20 << 20, np.uint8)\n"
        "    del a\n"
        "print(rss() - base)\n"
    )
    kept = {}
    for flag in ("0", "1"):
        run = subprocess.run([sys.executable, "-c", code, flag], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[2], timeout=120)
        kept[flag] = float(run.stdout.strip())
    assert kept["0"] > 15 and kept["1"] < 5


def test_the_explain_command_exits_at_once_with_its_code_its_output_flushed_and_its_files_written(tmp_path):
    """``python -m viewer.cli explain`` ends without the interpreter's teardown (viewer.cli._exit_at_once):
    the exit code, the piped output and the files are what a normal exit gives."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    bad = tmp_path / "not-an-image.dcm"
    bad.write_bytes(b"no pixels here")
    good = root / "resources" / "demo" / "images" / "phantom_00001.dcm"
    run = subprocess.run([sys.executable, "-m", "viewer.cli", "explain", str(good), str(bad), "--classes",
                          "Pneumothorax", "--out", str(tmp_path / "out")], cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 1  # one image failed
    assert f"wrote {tmp_path / 'out' / 'results.json'}" in run.stdout and "phantom_00001.dcm: " in run.stdout
    assert str(bad) in run.stderr
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [("error" in e) for e in doc["images"]] == [False, True]
    assert (tmp_path / "out" / "phantom_00001.dcm.pneumothorax.png").stat().st_size > 1000


def test_the_collector_is_paused_inside_the_block_and_as_it_was_after():
    import gc

    from engine.cli.explain import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a collector paused by the caller stays paused
    finally:
        gc.enable()
    with pytest.raises(KeyError), collector_paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_class_maps_upsampled_with_one_torch_thread_equal_those_with_two():
    """radlens explain upsamples the class maps with one torch thread while the overlay threads run."""
    from engine.cli.explain import _one_torch_thread
    from engine.io import load_image

    demo = Path(__file__).resolve().parents[2] / "resources" / "demo" / "images" / "phantom_00003.dcm"
    result = explain(load_model("default"), load_image(demo), "gradcam")
    threads = torch.get_num_threads()
    maps = {}
    try:
        for n in (2, 1):
            torch.set_num_threads(n)
            for name in result.explained:
                result.release(name)
            maps[n] = [result.map(name).copy() for name in result.explained]
    finally:
        torch.set_num_threads(threads)
    for one, two in zip(maps[1], maps[2], strict=True):
        np.testing.assert_array_equal(one, two)
    with _one_torch_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads
