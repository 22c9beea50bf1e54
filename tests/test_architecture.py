"""The boundaries: engine/ and training/ import no PySide6, pyqtgraph, viewer or plugins; plugins/
import no viewer; the import-linter contracts of pyproject.toml hold (and the tool does fail)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "viewer", "plugins", "shiboken6")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_core_packages_import_no_gui_code_statically():
    offenders = []
    for package in ("engine", "training"):
        for path in (ROOT / package).rglob("*.py"):
            for name in _imports(path):
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offenders, offenders


def test_core_packages_load_no_gui_modules_at_run_time():
    code = (
        "import importlib, pkgutil, sys\n"
        "import engine, training\n"
        "for pkg in (engine, training):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_headless_cli_help_imports_no_qt():
    code = (
        "import sys\nfrom viewer.cli import main\n"
        "for cmd in ('explain', 'layers', 'info'):\n"
        "    try:\n        main([cmd, '--help'])\n    except SystemExit:\n        pass\n"
        "bad = [n for n in sys.modules if n.startswith(('PySide6', 'pyqtgraph'))]\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


# --- the viewer <-> plugins boundary and the import contracts (issue 13) ---------------------------
def _imported_modules(path: Path, root: Path = ROOT) -> list[str]:
    """Every module ``path`` imports, relative imports resolved against its package under ``root``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                if node.module:
                    names.append(".".join([*base, node.module]))
                else:  # from . import x: the modules are the names
                    names += [".".join([*base, a.name]) for a in node.names]
            elif node.module:
                names.append(node.module)
    return names


def _viewer_imports(package: Path) -> list[str]:
    return [f"{path.relative_to(ROOT)}: {name}" for path in sorted(package.rglob("*.py"))
            for name in _imported_modules(path) if name == "viewer" or name.startswith("viewer.")]


def test_no_plugin_module_imports_the_viewer():
    """Plugins reach the app only through ``plugins.api`` (even type-only imports count)."""
    assert _viewer_imports(ROOT / "plugins") == []


def test_the_plugin_check_sees_every_kind_of_import(tmp_path):
    """The AST walk catches plain, from, nested, type-only and relative imports of ``viewer``."""
    plugin = tmp_path / "plugins" / "bad"
    plugin.mkdir(parents=True)
    (plugin / "a.py").write_text("import viewer.worker\n")
    (plugin / "b.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    from viewer.state import X\n")
    (plugin / "c.py").write_text("def f():\n    from viewer import box_items\n")
    (plugin / "d.py").write_text("from plugins.api import BoxStyle\nimport engine\nfrom . import a\n")
    (plugin / "e.py").write_text("from ... import viewer\n")  # relative, from the package above plugins
    found = [name for path in sorted(plugin.glob("*.py")) for name in _imported_modules(path, tmp_path)
             if name == "viewer" or name.startswith("viewer.")]
    assert found == ["viewer.worker", "viewer.state", "viewer", "viewer"]


def _lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run([*command, "--no-cache", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_linter_contracts_are_kept():
    """The contracts of pyproject.toml: the core sees no GUI, plugins no viewer, engine's layers."""
    proc = _lint_imports()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 kept, 0 broken" in proc.stdout, proc.stdout


def test_import_linter_reports_a_broken_contract(tmp_path):
    """The same tool fails on a contract the tree breaks (plugins do import the engine)."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["engine", "plugins"]\n\n'
        '[[tool.importlinter.contracts]]\nname = "plugins without engine"\ntype = "forbidden"\n'
        'source_modules = ["plugins"]\nforbidden_modules = ["engine"]\n'
    )
    proc = _lint_imports(str(config))
    assert proc.returncode != 0 and "BROKEN" in proc.stdout.upper(), proc.stdout + proc.stderr
