"""RadLens workstation installer for Linux (run through install.sh; standard library only).

Install (or upgrade in place: run it again):

* a private virtual environment ``PREFIX/lib/radlens/venv`` with RadLens from a wheel (``--wheel``),
  a wheelhouse folder (``--wheelhouse``, offline: ``pip download`` on a connected machine), or a
  package index (``--index-url``, default PyPI); PyTorch's CUDA build when ``nvidia-smi`` is there,
  else its CPU build (``--cpu``/``--cuda`` override);
* the launcher ``PREFIX/bin/radlens``;
* a desktop entry and icon, and a MIME association so that ``.dcm`` files and DICOM folders open in
  RadLens, under ``PREFIX/share`` (the XDG data folder of the prefix: nothing outside the prefix);
* the system libraries Qt's xcb platform needs: installed with apt-get when run as root with apt
  (unless ``--no-system-packages``), else the exact ``apt-get install`` line is printed.

Every file and folder it adds is recorded in ``PREFIX/lib/radlens/install-manifest.json``;
``--uninstall`` removes exactly those (folders only when empty) and nothing else. The user's
settings, annotations and logs live outside the installation (``~/.config/radlens``,
``~/.local/share/radlens``, ``~/.local/state/radlens``) and are never touched.

Developer/test option: ``--reuse-site-packages DIR`` makes the private environment see the packages
already installed in DIR (a ``.pth`` file, like ``--system-site-packages``) and installs RadLens
itself without its dependencies: no download of PyTorch. Not for workstations.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

MANIFEST = "install-manifest.json"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MIME_XML = """<?xml version="1.0" encoding="UTF-8"?>
<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">
  <mime-type type="application/dicom">
    <comment>DICOM image</comment>
    <glob pattern="*.dcm"/>
    <glob pattern="*.dicom"/>
    <magic priority="60"><match type="string" value="DICM" offset="128"/></magic>
  </mime-type>
</mime-info>
"""
MIME_TYPES = ("application/dicom", "inode/directory")
DEFAULT_FOR = ("application/dicom",)  # folders are offered "Open with RadLens", not taken over


class InstallError(Exception):
    """What stopped the installer, with what to do."""


def say(text: str) -> None:
    print(f"install.sh: {text}", flush=True)


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    say("$ " + " ".join(shlex.quote(c) for c in cmd))
    proc = subprocess.run(cmd, text=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise InstallError(f"'{cmd[0]} {cmd[1] if len(cmd) > 1 else ''}' failed (exit {proc.returncode}).")
    return proc


class Layout:
    """Where everything goes under the prefix."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.lib = prefix / "lib" / "radlens"
        self.venv = self.lib / "venv"
        self.python = self.venv / "bin" / "python"
        self.manifest = self.lib / MANIFEST
        self.bin = prefix / "bin"
        self.launcher = self.bin / "radlens"
        self.share = prefix / "share"
        self.applications = self.share / "applications"
        self.desktop = self.applications / "radlens.desktop"
        self.mimeapps = self.applications / "mimeapps.list"
        self.icons = self.share / "icons" / "hicolor"
        self.icon_png = self.icons / "256x256" / "apps" / "radlens.png"
        self.icon_svg = self.icons / "scalable" / "apps" / "radlens.svg"
        self.mime = self.share / "mime"
        self.mime_xml = self.mime / "packages" / "radlens-dicom.xml"


class Manifest:
    """What this installer added: files, folders (created by it), and the mimeapps.list lines."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.files: list[str] = []
        self.dirs: list[str] = []
        self.mimeapps_lines: list[str] = []
        self.info: dict[str, str] = {}
        if layout.manifest.is_file():
            doc = json.loads(layout.manifest.read_text(encoding="utf-8"))
            self.files, self.dirs = list(doc.get("files", [])), list(doc.get("dirs", []))
            self.mimeapps_lines = list(doc.get("mimeapps_lines", []))
            self.info = dict(doc.get("info", {}))

    def mkdir(self, folder: Path) -> None:
        missing = []
        for p in (folder, *folder.parents):
            if p.exists():
                break
            missing.append(p)
        folder.mkdir(parents=True, exist_ok=True)
        for p in missing:
            if str(p) not in self.dirs:
                self.dirs.append(str(p))

    def write(self, path: Path, text: str | bytes, mode: int = 0o644) -> None:
        self.mkdir(path.parent)
        tmp = path.with_name(f".{path.name}.tmp")
        if isinstance(text, bytes):
            tmp.write_bytes(text)
        else:
            tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        self.add_file(path)

    def add_file(self, path: Path) -> None:
        if str(path) not in self.files:
            self.files.append(str(path))

    def save(self) -> None:
        doc = {"format": "radlens.install-manifest", "schema_version": 1, "info": self.info,
               "files": self.files, "dirs": self.dirs, "mimeapps_lines": self.mimeapps_lines}
        self.mkdir(self.layout.lib)
        tmp = self.layout.manifest.with_name(MANIFEST + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.layout.manifest)


# --- the environment ---------------------------------------------------------------------------------
def choose_torch(args: argparse.Namespace) -> str:
    if args.cpu:
        return "cpu"
    if args.cuda:
        return "cuda"
    return "cuda" if shutil.which("nvidia-smi") else "cpu"


def make_venv(layout: Layout, manifest: Manifest, python: str, reuse: Path | None) -> None:
    if layout.python.exists():
        say(f"upgrading the environment in {layout.venv}")
    else:
        manifest.mkdir(layout.venv.parent)
        run([python, "-m", "venv", str(layout.venv)])
    manifest.dirs = [d for d in manifest.dirs if d != str(layout.venv)] + [str(layout.venv)]  # removed whole
    if reuse is not None:
        code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        purelib = subprocess.run([str(layout.python), "-c", code], capture_output=True, text=True,
                                 check=True).stdout.strip()
        Path(purelib, "zz-radlens-reuse.pth").write_text(f"{reuse}\n", encoding="utf-8")


def pip_install(layout: Layout, args: argparse.Namespace, torch: str) -> None:
    pip = [str(layout.python), "-m", "pip", "install", "--upgrade", "--disable-pip-version-check"]
    source: list[str] = []
    if args.wheelhouse:
        source = ["--no-index", "--find-links", str(args.wheelhouse)]
    elif args.index_url:
        source = ["--index-url", args.index_url]
    target = str(args.wheel) if args.wheel else "radlens"
    if args.reuse_site_packages:
        # developer/test option: the dependencies come from the reused site-packages
        run([*pip, "--no-deps", "--ignore-installed", *source, target])
        return
    if args.wheelhouse:
        say(f"offline install from {args.wheelhouse}: PyTorch is whichever build the wheelhouse holds")
    elif torch == "cpu":
        say("no NVIDIA GPU (nvidia-smi not found): installing PyTorch's CPU build (--cuda to override)")
        run([*pip, "--index-url", args.torch_index_url or TORCH_CPU_INDEX, "torch", "torchvision"])
    else:
        say("NVIDIA GPU found (nvidia-smi): installing PyTorch's CUDA build (--cpu to override)")
    run([*pip, *source, target])


def check_system_libraries(layout: Layout, args: argparse.Namespace) -> list[str]:
    """Packages Qt's xcb platform still needs (asked from the installed RadLens's own probe)."""
    proc = subprocess.run([str(layout.python), "-m", "viewer.startup", "--missing-packages"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        say(f"could not check the system libraries: {proc.stderr.strip()}")
        return []
    packages = proc.stdout.split()
    if not packages:
        say("the system libraries Qt needs are all there")
        return []
    line = "apt-get install -y " + " ".join(packages)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if root and shutil.which("apt-get") and not args.no_system_packages:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env)
        return []
    say("Qt's xcb platform needs system libraries that are missing. Install them with:")
    print(f"  sudo {line}", flush=True)
    return packages


# --- desktop integration ------------------------------------------------------------------------------
def desktop_entry(layout: Layout) -> str:
    exe = str(layout.launcher)
    quoted = f'"{exe}"' if any(c in exe for c in ' \t"\'\\$`') else exe
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",
        "Name=RadLens",
        "GenericName=Radiology viewer",
        "Comment=View DICOM images and explain image classifiers (research use, not for diagnostic use)",
        f"Exec={quoted} view %f",
        f"TryExec={exe}",
        f"Icon={layout.icon_png}",
        "Terminal=false",
        "Categories=Science;MedicalSoftware;",
        "MimeType=" + ";".join(MIME_TYPES) + ";",
        "Keywords=DICOM;radiology;X-ray;explanation;Grad-CAM;",
        "StartupWMClass=RadLens",
        "",
    ])


def resource_bytes(layout: Layout, name: str) -> bytes:
    code = ("import sys; from engine.resources import icon_path; "
            "sys.stdout.buffer.write(icon_path(sys.argv[1]).read_bytes())")
    return subprocess.run([str(layout.python), "-c", code, name], capture_output=True, check=True).stdout


def add_mimeapps(layout: Layout, manifest: Manifest) -> None:
    """Make RadLens the default for .dcm in PREFIX/share/applications/mimeapps.list (a line added to
    an existing file, recorded; a type the user already chose is left alone)."""
    lines = layout.mimeapps.read_text(encoding="utf-8").splitlines() if layout.mimeapps.exists() else []
    existed = layout.mimeapps.exists()
    if "[Default Applications]" not in lines:
        lines += ["[Default Applications]"]
        manifest.mimeapps_lines.append("[Default Applications]")
    at = lines.index("[Default Applications]") + 1
    for mime in DEFAULT_FOR:
        if any(line.startswith(f"{mime}=") for line in lines):
            continue
        entry = f"{mime}=radlens.desktop"
        lines.insert(at, entry)
        manifest.mimeapps_lines.append(entry)
    manifest.mkdir(layout.applications)
    layout.mimeapps.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not existed:
        manifest.add_file(layout.mimeapps)


def refresh_caches(layout: Layout, manifest: Manifest | None) -> None:
    """Rebuild the desktop and MIME caches of the prefix. On install, the files the tools create are
    recorded as ours; on uninstall (``manifest`` None) a cache is rebuilt only where other entries
    remain (else our removal already took the cache away)."""
    for tool, folder, entries in (("update-desktop-database", layout.applications, "*.desktop"),
                                  ("update-mime-database", layout.mime, "packages/*.xml")):
        exe = shutil.which(tool)
        if exe is None or not folder.is_dir():
            continue
        if manifest is None and not any(folder.glob(entries)):
            continue
        before = set(folder.rglob("*"))
        subprocess.run([exe, str(folder)], capture_output=True, check=False)
        if manifest is not None:
            for p in sorted(set(folder.rglob("*")) - before):
                if p.is_dir():
                    manifest.dirs.append(str(p))
                else:
                    manifest.add_file(p)


def integrate_desktop(layout: Layout, manifest: Manifest) -> None:
    manifest.write(layout.icon_png, resource_bytes(layout, "radlens.png"))
    manifest.write(layout.icon_svg, resource_bytes(layout, "radlens.svg"))
    manifest.write(layout.desktop, desktop_entry(layout))
    manifest.write(layout.mime_xml, MIME_XML)
    add_mimeapps(layout, manifest)
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(layout.desktop)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise InstallError(f"the desktop entry is not valid: {proc.stdout}{proc.stderr}")
    refresh_caches(layout, manifest)


def install_launcher(layout: Layout, manifest: Manifest) -> None:
    script = (f"#!/bin/sh\n# RadLens launcher (installed by install.sh; removed by install.sh --uninstall)\n"
              f"exec {shlex.quote(str(layout.venv / 'bin' / 'radlens'))} \"$@\"\n")
    manifest.write(layout.launcher, script, mode=0o755)


# --- main --------------------------------------------------------------------------------------------------
def install(args: argparse.Namespace) -> int:
    layout = Layout(args.prefix)
    manifest = Manifest(layout)
    upgrade = layout.manifest.is_file()
    torch = choose_torch(args)
    manifest.info.update(python=args.python, torch=torch)
    try:  # whatever happens, the manifest lists what was added: --uninstall undoes a half-finished install
        make_venv(layout, manifest, args.python, args.reuse_site_packages)
        manifest.save()
        pip_install(layout, args, torch)
        install_launcher(layout, manifest)
        integrate_desktop(layout, manifest)
        version = subprocess.run([str(layout.python), "-c", "from engine.version import version; print(version())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        manifest.info["version"] = version
    finally:
        manifest.save()
    missing = check_system_libraries(layout, args)
    say(f"RadLens {version} {'upgraded' if upgrade else 'installed'} in {layout.prefix} "
        f"(PyTorch {torch.upper()} build). Start it with: {layout.launcher}")
    if str(layout.bin) not in os.environ.get("PATH", "").split(os.pathsep):
        say(f"note: {layout.bin} is not on your PATH; add it, or start {layout.launcher} directly")
    if missing:
        say("RadLens's window will not open until the packages above are installed (headless commands work).")
    return 0


def remove_mimeapps(layout: Layout, manifest: Manifest) -> None:
    if not layout.mimeapps.exists() or not manifest.mimeapps_lines:
        return
    ours = set(manifest.mimeapps_lines)
    lines = [line for line in layout.mimeapps.read_text(encoding="utf-8").splitlines()
             if line not in ours or line == "[Default Applications]"]
    if "[Default Applications]" in ours:  # the section was ours: drop it when it is empty again
        i = lines.index("[Default Applications]")
        rest = lines[i + 1:]
        if not rest or rest[0].startswith("["):
            del lines[i]
    layout.mimeapps.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")


def uninstall(args: argparse.Namespace) -> int:
    layout = Layout(args.prefix)
    if not layout.manifest.is_file():
        raise InstallError(f"no RadLens installation in {layout.prefix} (no {layout.manifest}).")
    manifest = Manifest(layout)
    remove_mimeapps(layout, manifest)
    mimeapps_ours = str(layout.mimeapps) in manifest.files
    if mimeapps_ours and layout.mimeapps.exists() and layout.mimeapps.read_text(encoding="utf-8").strip():
        manifest.files.remove(str(layout.mimeapps))  # the user added lines since: keep the file
    for f in manifest.files:
        p = Path(f)
        if p.is_file() or p.is_symlink():
            p.unlink()
    if layout.venv.is_dir():
        shutil.rmtree(layout.venv)
    layout.manifest.unlink()
    refresh_caches(layout, None)  # caches of what others installed in the prefix stay correct
    for d in sorted(manifest.dirs, key=lambda s: -len(Path(s).parts)):
        p = Path(d)
        if p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    say(f"RadLens removed from {layout.prefix} (your settings, annotations and logs in your home folder are kept).")
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="install.sh", description="Install RadLens on a Linux workstation.")
    root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
    default_prefix = Path("/usr/local") if root else Path.home() / ".local"
    ap.add_argument("--prefix", type=Path, default=default_prefix,
                    help=f"where to install (default {default_prefix}); launcher in PREFIX/bin, desktop files in "
                         "PREFIX/share")
    ap.add_argument("--uninstall", action="store_true", help="remove what install.sh added under PREFIX")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--wheel", type=Path, help="install this RadLens wheel (its dependencies from the index)")
    src.add_argument("--wheelhouse", type=Path, help="offline: install RadLens and every dependency from this folder")
    ap.add_argument("--index-url", help="package index for RadLens and its dependencies (default PyPI)")
    gpu = ap.add_mutually_exclusive_group()
    gpu.add_argument("--cpu", action="store_true", help="install PyTorch's CPU build even with an NVIDIA GPU")
    gpu.add_argument("--cuda", action="store_true", help="install PyTorch's CUDA build even without nvidia-smi")
    ap.add_argument("--torch-index-url", help=f"where PyTorch's CPU build comes from (default {TORCH_CPU_INDEX})")
    ap.add_argument("--python", default=sys.executable, help="Python >= 3.11 for the private environment")
    ap.add_argument("--no-system-packages", action="store_true",
                    help="never run apt-get; print the line to run instead")
    ap.add_argument("--reuse-site-packages", type=Path, metavar="DIR",
                    help="developer/test option: reuse the packages installed in DIR (no PyTorch download)")
    args = ap.parse_args(argv)
    args.prefix = args.prefix.expanduser().absolute()
    if args.wheelhouse and args.wheel is None:
        found = sorted(args.wheelhouse.glob("radlens-*.whl"))
        if not found:
            raise InstallError(f"{args.wheelhouse} holds no radlens-*.whl.")
    if args.wheel is None and args.wheelhouse is None and not args.index_url and not args.uninstall:
        beside = sorted(Path(__file__).resolve().parent.glob("radlens-*.whl"))
        if beside:
            args.wheel = beside[-1]
    for name in ("wheel", "wheelhouse", "reuse_site_packages"):
        value = getattr(args, name)
        if value is not None:
            setattr(args, name, value.expanduser().absolute())
            if not value.exists():
                raise InstallError(f"--{name.replace('_', '-')} {value}: no such file or folder.")
    return args


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036  (run by whatever python3 there is)
        print("install.sh: RadLens needs Python 3.11 or newer.", file=sys.stderr)
        return 1
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
        check = subprocess.run([args.python, "-c", "import sys, venv; sys.exit(sys.version_info < (3, 11))"],
                               capture_output=True, check=False)
        if not args.uninstall and check.returncode != 0:
            raise InstallError(f"{args.python} is not Python >= 3.11 with its venv module "
                               "(Debian/Ubuntu: sudo apt-get install -y python3.11-venv).")
        return uninstall(args) if args.uninstall else install(args)
    except InstallError as exc:
        print(f"install.sh: error: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"install.sh: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
