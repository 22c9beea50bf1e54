"""``radlens bundle create`` / ``check``: DataParallel and Lightning checkpoints, refusals, all problems at once."""

from __future__ import annotations

import hashlib
import json
import pathlib
import pickle
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import load_file, save_file

from engine.cli.bundle import check as check_bundle
from engine.errors import ModelError, UnsafeModelFileError, WeightsMismatchError
from engine.models.bundle import load_model
from engine.models.checkpoint import read_checkpoint, remap_names
from engine.models.create import create_bundle, parse_classes
from viewer.cli import main

SIZE = 64


def _outputs(module: torch.nn.Module, seed: int = 0) -> torch.Tensor:
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return module.eval()(x)


@pytest.fixture(scope="module")
def mobilenet() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(num_classes=3)
    with torch.no_grad():  # non-trivial BN statistics, so buffers are checked too
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture(scope="module")
def squeeze() -> torch.nn.Module:
    torch.manual_seed(1)
    return torchvision.models.squeezenet1_1(num_classes=2).eval()


@pytest.fixture(scope="module")
def good_bundle(tmp_path_factory: pytest.TempPathFactory, squeeze: torch.nn.Module) -> Path:
    folder = tmp_path_factory.mktemp("good")
    save_file(squeeze.state_dict(), str(folder / "sq.safetensors"))
    return create_bundle("squeezenet1_1", folder / "sq.safetensors", ["x", "y"], folder / "bundle",
                         input_size=(SIZE, SIZE)).path


def test_dataparallel_checkpoint_is_remapped_and_gives_the_same_outputs(tmp_path: Path,
                                                                         mobilenet: torch.nn.Module) -> None:
    ckpt = tmp_path / "dp.pth"
    torch.save(torch.nn.DataParallel(mobilenet).state_dict(), ckpt)
    assert all(k.startswith("module.") for k in torch.load(ckpt, weights_only=True))
    made = create_bundle("mobilenet_v3_small", ckpt, ["a", "b", "c"], tmp_path / "out", input_size=(SIZE, SIZE),
                         command="radlens bundle create ...")
    assert made.removed_prefixes == ("module.",)
    loaded = load_model(made.path)
    torch.testing.assert_close(_outputs(loaded.module), _outputs(mobilenet), rtol=0, atol=0)
    prov = json.loads((made.path / "model.json").read_text())["provenance"]
    assert prov["source"]["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert prov["source"]["removed_prefixes"] == ["module."] and prov["command"] == "radlens bundle create ..."
    stored = load_file(str(made.path / "weights.safetensors"))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float32}
    assert sorted(p.name for p in made.path.iterdir()) == ["model.json", "weights.safetensors"]


@pytest.mark.parametrize(("wrapper", "prefix"), [("state_dict", "model."), ("model", "net.module.")])
def test_lightning_and_other_wrappers(tmp_path: Path, squeeze: torch.nn.Module, wrapper: str, prefix: str) -> None:
    state = {prefix + k: v for k, v in squeeze.state_dict().items()}
    state["loss.pos_weight"] = torch.ones(2)  # a Lightning module's loss buffer, beside its model
    ckpt = tmp_path / "last.ckpt"
    torch.save({"epoch": 7, "global_step": 70, "pytorch-lightning_version": "2.2.0", wrapper: state,
                "optimizer_states": [], "hyper_parameters": {"lr": 1e-3}}, ckpt)
    made = create_bundle("squeezenet1_1", ckpt, ["x", "y"], tmp_path / "out", input_size=(SIZE, SIZE), half=True)
    assert "".join(made.removed_prefixes) == prefix and made.ignored == ("loss.pos_weight",)
    stored = load_file(str(made.path / "weights.safetensors"))
    assert {v.dtype for v in stored.values()} == {torch.float16}
    torch.testing.assert_close(_outputs(load_model(made.path).module), _outputs(squeeze), rtol=1e-2, atol=1e-2)
    assert json.loads((made.path / "model.json").read_text())["provenance"]["source"]["wrapper_keys"] == [wrapper]


def test_wrappers_and_prefixes_are_found_without_building_a_network(tmp_path: Path) -> None:
    expected = {"conv.weight", "fc.weight", "fc.bias"}
    state = {"backbone." + k: torch.zeros(1) for k in expected} | {"head_loss.weight": torch.zeros(1)}
    torch.save({"epoch": 1, "model_state_dict": state}, tmp_path / "w.pt")
    ckpt = read_checkpoint(tmp_path / "w.pt")
    assert ckpt.wrapper == ("model_state_dict",) and ckpt.fmt == "torch"
    fitted = remap_names(ckpt.state, expected)
    assert set(fitted.state) == expected | {"head_loss.weight"} and fitted.removed_prefixes == ("backbone.",)
    assert fitted.outside == ("head_loss.weight",)
    plain = remap_names({k: torch.zeros(1) for k in expected}, expected)
    assert plain.removed_prefixes == () and set(plain.state) == expected
    torch.save({"epoch": 1, "optimizer": {"lr": 0.1}}, tmp_path / "none.pt")
    with pytest.raises(WeightsMismatchError, match="no state_dict found"):
        read_checkpoint(tmp_path / "none.pt")


class _SideEffect:
    """Unpickling this touches a file: proof that code from the file ran."""

    marker: pathlib.Path

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[pathlib.Path]]:
        return (pathlib.Path.touch, (self.marker,))


def test_pickled_objects_are_refused_without_running_their_code(tmp_path: Path, squeeze: torch.nn.Module) -> None:
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": squeeze.state_dict(), "extra": _SideEffect(marker)}, evil)
    whole = tmp_path / "whole.pt"
    torch.save(squeeze, whole)  # torch.save(model): a pickled nn.Module
    for path, needs in ((evil, "getattr"), (whole, "SqueezeNet")):
        with pytest.raises(UnsafeModelFileError) as info:
            create_bundle("squeezenet1_1", path, ["x", "y"], tmp_path / "out")
        assert needs in str(info.value) and "state_dict()" in str(info.value)
    assert not marker.exists() and not (tmp_path / "out").exists()
    pickle.loads(pickle.dumps(_SideEffect(marker)))  # the payload is real: unpickling it runs it
    assert marker.exists()


def test_head_size_and_channel_mismatches_say_what_the_checkpoint_has(tmp_path: Path, squeeze: torch.nn.Module) -> None:
    ckpt = tmp_path / "w.pth"
    torch.save(squeeze.state_dict(), ckpt)
    with pytest.raises(WeightsMismatchError, match=r"head 'classifier.1' has 2 outputs, but 3 classes were given"):
        create_bundle("squeezenet1_1", ckpt, ["a", "b", "c"], tmp_path / "out")
    with pytest.raises(WeightsMismatchError, match=r"takes 3 input channel\(s\), but --in-channels 1") as info:
        create_bundle("squeezenet1_1", ckpt, ["a", "b"], tmp_path / "out", in_channels=1)
    assert "--in-channels 3" in str(info.value)
    with pytest.raises(WeightsMismatchError, match="does not fit architecture 'squeezenet1_0'"):
        create_bundle("squeezenet1_0", ckpt, ["a", "b"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_one_channel_checkpoint_keeps_its_channel(tmp_path: Path) -> None:
    torch.manual_seed(2)
    net = torchvision.models.squeezenet1_1(num_classes=2)
    net.features[0] = torch.nn.Conv2d(1, 64, 3, stride=2)
    ckpt = tmp_path / "w.safetensors"
    save_file(net.state_dict(), str(ckpt))
    made = create_bundle("squeezenet1_1", ckpt, ["a", "b"], tmp_path / "out", input_size=(SIZE, SIZE),
                         mean=[0.5], std=[0.25])
    assert made.manifest.in_channels == 1 and made.manifest.mean == (0.5,)
    x = torch.randn(1, 1, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(load_model(made.path).module(x), net.eval()(x))


def test_out_folder_is_replaced_only_with_force_and_kept_on_failure(tmp_path: Path, good_bundle: Path,
                                                                     squeeze: torch.nn.Module) -> None:
    ckpt = tmp_path / "w.pth"
    torch.save(squeeze.state_dict(), ckpt)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ModelError, match="not empty"):
        create_bundle("squeezenet1_1", ckpt, ["x", "y"], out)
    with pytest.raises(WeightsMismatchError):  # a failed --force leaves the old folder as it was
        create_bundle("squeezenet1_1", ckpt, ["x", "y", "z"], out, force=True)
    assert (out / "notes.txt").read_text() == "mine"
    create_bundle("squeezenet1_1", ckpt, ["x", "y"], out, force=True, version="2.0")
    assert not (out / "notes.txt").exists() and load_model(out).version == "2.0"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_classes_from_a_file_or_a_list(tmp_path: Path) -> None:
    f = tmp_path / "classes.txt"
    f.write_text("Atelectasis\n# comment\n\nEffusion\n")
    assert parse_classes(str(f)) == ("Atelectasis", "Effusion")
    assert parse_classes("a, b,c") == ("a", "b", "c")


def test_check_passes_a_good_bundle_and_lists_layers(good_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundle", "check", str(good_bundle)]) == 0
    out = capsys.readouterr().out
    assert "output (1, 2)" in out and "<- default" in out and "OK: no problem found" in out
    report = check_bundle(good_bundle)
    lo, hi = report.probability_range or (2.0, -1.0)
    assert 0.0 <= lo <= hi <= 1.0 and any(d for *_, d in report.layers)


def test_check_reports_every_problem_at_once(tmp_path: Path, good_bundle: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    data = json.loads((good_bundle / "model.json").read_text())
    data.update(class_names=["x", "y", "z"], mean=[0.5, 0.5], thresholds=[0.5, 0.5], target_layr="features",
                target_layer="feature.12")
    (bad / "model.json").write_text(json.dumps(data))
    state = load_file(str(good_bundle / "weights.safetensors"))
    state["features.3.squeeze.weight"][0, 0, 0, 0] = float("nan")
    del state["features.12.expand3x3.bias"]
    state["extra.weight"] = torch.zeros(3)
    save_file(state, str(bad / "weights.safetensors"))
    report = check_bundle(bad)
    text = [p.what for p in report.problems]
    expected = ["mean must have", "thresholds must hold", "unknown keys ['target_layr']", "NaN or infinite",
                "head 'classifier.1' has 2 outputs but model.json lists 3",
                "missing from the weights: features.12.expand3x3.bias",
                "no place in the architecture: extra.weight",
                "target_layer 'feature.12' is not a layer of 'squeezenet1_1' (close: features.12"]
    for needle in expected:
        assert sum(needle in t for t in text) == 1, (needle, text)
    assert len(report.problems) == len(expected) and all(p.fix for p in report.problems)
    assert main(["bundle", "check", str(bad)]) == 1
    assert f"{len(expected)} problem(s)" in capsys.readouterr().err


def test_cli_create(tmp_path: Path, squeeze: torch.nn.Module, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "w.pth"
    torch.save({"model": squeeze.state_dict()}, ckpt)
    (tmp_path / "c.txt").write_text("x\ny\n")
    code = main(["bundle", "create", "--architecture", "squeezenet1_1", "--weights", str(ckpt), "--classes",
                 str(tmp_path / "c.txt"), "--input-size", "64", "80", "--resize", "letterbox", "--name", "Mine",
                 "--version", "3", "--target-layer", "features.12", "--out", str(tmp_path / "b")])
    assert code == 0 and "wrote" in capsys.readouterr().out
    m = load_model(tmp_path / "b").manifest
    got = (m.name, m.version, m.input_size, m.resize, m.target_layer)
    assert got == ("Mine", "3", (64, 80), "letterbox", "features.12")
    code = main(["bundle", "create", "--architecture", "squeezenet1_1", "--weights", str(ckpt), "--classes", "a",
                 "--out", str(tmp_path / "c")])
    assert code == 1 and "has 2 outputs, but 1 classes" in capsys.readouterr().err
