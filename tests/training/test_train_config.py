"""Training config: defaults in one schema, unknown keys and bad values rejected by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import TrainConfig, TrainConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["phantom-resnet18.yaml", "tiny-test.yaml"])
def test_committed_configs_load(name):
    cfg = load_config(ROOT / "configs" / name)
    assert cfg.model.architecture in ("resnet18", "shufflenet_v2_x0_5")
    assert cfg.augment.hflip == 0.0  # never flip chest films by default


def test_default_recipe_matches_the_issue():
    cfg = load_config(ROOT / "configs" / "phantom-resnet18.yaml")
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.schedule) == ("adamw", 1e-3, 1e-4, "cosine")
    assert cfg.train.batch_size == 32 and 8 <= cfg.train.epochs <= 12 and cfg.train.patience > 0
    assert 192 <= cfg.model.input_size[0] <= 384  # 384: 21 min for 10 epochs on the 2-core CPU (budget 30)
    assert cfg.model.target_layer in ("layer3", "layer4")


def test_unknown_key_names_file_and_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("optim:\n  lr: 0.01\n  learning_rate: 0.1\n")
    with pytest.raises(TrainConfigError) as err:
        load_config(p)
    assert "optim.learning_rate" in str(err.value) and str(p) in str(err.value)


def test_unknown_section_rejected(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("trainer:\n  epochs: 3\n")
    with pytest.raises(TrainConfigError, match="trainer"):
        load_config(p)


def test_bad_value_and_type_rejected(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("optim:\n  name: rmsprop\n")
    with pytest.raises(TrainConfigError, match=r"optim\.name"):
        load_config(p)
    p.write_text("train:\n  epochs: many\n")
    with pytest.raises(TrainConfigError, match=r"train\.epochs"):
        load_config(p)


def test_defaults_and_yaml_off(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  amp: off\nmodel:\n  input_size: [96, 128]\n")
    cfg = load_config(p)
    assert cfg.train.amp == "off" and cfg.model.input_size == (96, 128)
    assert cfg.optim == TrainConfig().optim
    assert cfg.to_dict()["model"]["input_size"] == [96, 128]
