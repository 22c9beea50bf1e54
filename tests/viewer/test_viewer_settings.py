"""Settings: defaults, round trip, env override, corrupt files, unknown keys, migration."""

from __future__ import annotations

import json

import pytest

from viewer.settings import DEFAULTS, SCHEMA_VERSION, Settings, default_path


def test_env_var_points_at_the_file(settings_path):
    assert default_path() == settings_path
    s = Settings()
    assert s.path == settings_path and s["model"] == DEFAULTS["model"] and not settings_path.exists()


def test_round_trip(settings_path):
    s = Settings()
    s["last_path"] = "/data/study"
    s["hidden_classes"] = ["Cardiomegaly"]
    s.plugin("explanation-overlay")["method"] = "gradcampp"
    s.save()
    doc = json.loads(settings_path.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION
    again = Settings()
    assert again["last_path"] == "/data/study" and again["hidden_classes"] == ["Cardiomegaly"]
    assert again.plugin("explanation-overlay") == {"method": "gradcampp"}
    assert again.warnings == []


def test_rejects_unknown_keys_and_wrong_types_on_set(settings_path):
    s = Settings()
    with pytest.raises(KeyError):
        s["colour"] = "red"
    with pytest.raises(TypeError):
        s["hidden_classes"] = "Cardiomegaly"
    with pytest.raises(TypeError):
        s["plugins"] = {"x": object()}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"schema_version": 99, "model": "x"}', "\xff\xfe"])
def test_corrupt_file_gives_defaults_a_warning_and_a_backup(settings_path, content):
    settings_path.parent.mkdir(parents=True)
    settings_path.write_text(content, encoding="latin-1")
    s = Settings()
    assert s.as_dict() == {"schema_version": SCHEMA_VERSION, **DEFAULTS}
    assert len(s.warnings) == 1
    assert (settings_path.parent / "settings.json.bak").read_bytes() == content.encode("latin-1")
    s.save()  # the app can write a fresh file afterwards
    assert Settings().warnings == []


def test_unknown_keys_and_bad_values_are_dropped_with_warnings(settings_path):
    settings_path.parent.mkdir(parents=True)
    settings_path.write_text(json.dumps({"schema_version": 1, "tool": 5, "color": 1, "model": "/m"}))
    s = Settings()
    assert s["model"] == "/m" and s["tool"] == DEFAULTS["tool"]
    assert len(s.warnings) == 2


def test_version_0_is_migrated(settings_path):
    settings_path.parent.mkdir(parents=True)
    settings_path.write_text(json.dumps({"last_folder": "/old", "model": "default"}))
    s = Settings()
    assert s["last_path"] == "/old" and s.warnings == []


def test_non_persistent_settings_never_write(settings_path):
    s = Settings(persist=False)
    s["last_path"] = "/x"
    s.save()
    assert not settings_path.exists()


def test_version_1_drops_the_old_dock_arrangement_only(settings_path):
    settings_path.parent.mkdir(parents=True)
    settings_path.write_text(json.dumps({"schema_version": 1, "window_state": "00ff", "window_geometry": "0a",
                                         "last_path": "/study", "plugins": {"p": {"opacity": 0.3}}}))
    s = Settings()
    assert s["window_state"] is None and s.warnings == []
    assert s["window_geometry"] == "0a" and s["last_path"] == "/study" and s.plugin("p") == {"opacity": 0.3}
    assert json.loads(s.save().read_text())["schema_version"] == 2
