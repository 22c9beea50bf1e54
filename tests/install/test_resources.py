"""engine.resources: the bundled resources through importlib.resources, every bundle folder found."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

import engine.resources as res

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def fresh_cache():
    res.resources_root.cache_clear()
    yield
    res.resources_root.cache_clear()


def test_root_is_the_resources_package(fresh_cache: None) -> None:
    import resources

    assert res.resources_root() == Path(resources.__file__).resolve().parent == (ROOT / "resources").resolve()
    assert res.demo_images() == res.resources_root() / "demo" / "images"
    assert res.presets_dir().glob("*.yaml")
    assert res.icon_path().is_file() and res.icon_path("radlens.svg").is_file()


def test_a_new_bundle_folder_is_found_without_edits(fresh_cache: None, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "resources"
    for name in ("zeta-densenet", "alpha-vit", "not-a-bundle"):
        (fake / "models" / name).mkdir(parents=True)
    for name in ("zeta-densenet", "alpha-vit"):
        (fake / "models" / name / "model.json").write_text("{}")
    (fake / "__init__.py").write_text("RADLENS_RESOURCES = True\n")
    spec = importlib.util.spec_from_file_location("resources", fake / "__init__.py",
                                                  submodule_search_locations=[str(fake)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "resources", module)
    assert res.resources_root() == fake.resolve()
    assert [p.name for p in res.bundle_dirs()] == ["alpha-vit", "zeta-densenet"]


def test_a_foreign_resources_package_is_not_taken(fresh_cache: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "resources", types.ModuleType("resources"))  # someone else's, no marker
    assert res.resources_root() == (ROOT / "resources").resolve()  # the folder beside engine/


def test_is_bundled(fresh_cache: None, tmp_path: Path) -> None:
    assert res.is_bundled(res.demo_images() / "phantom_00000.dcm")
    assert not res.is_bundled(tmp_path / "x.dcm")


def test_user_folders_follow_env_and_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("RADLENS_DATA", "RADLENS_LOG_DIR", "RADLENS_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the spec: relative paths are ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert res.user_data_dir() == tmp_path / "d" / "radlens"
    assert res.user_log_dir() == tmp_path / "s" / "radlens" / "log"
    assert res.user_cache_dir() == tmp_path / "home" / ".cache" / "radlens"
    monkeypatch.setenv("RADLENS_DATA", str(tmp_path / "x"))
    assert res.user_data_dir() == tmp_path / "x"
