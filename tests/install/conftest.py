"""Install tests: one RadLens wheel per session, built from a copy of this checkout."""

from __future__ import annotations

from pathlib import Path

import pytest
from install_helpers import build_wheel, copy_sources


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"src": the copied sources, "wheel": radlens-*.whl}``."""
    base = tmp_path_factory.mktemp("build")
    src = copy_sources(base / "src")
    return {"src": src, "wheel": build_wheel(src, base / "dist")}
