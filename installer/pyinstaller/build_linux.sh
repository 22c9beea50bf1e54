#!/usr/bin/env bash
# Build RadLens's one-folder PyInstaller bundle on Linux once (not in CI: it is big), start it
# offscreen, take a screenshot, and print its size and start-up times (docs/install.md records them).
#
# PyInstaller goes into a temporary virtual environment of its own; that environment reaches the
# project's dependencies through a .pth file pointing at .venv's site-packages (.venv itself is never
# changed). The build runs under nice. Usage (from anywhere):
#   installer/pyinstaller/build_linux.sh [WORK_DIR]          (default: a new /tmp/radlens-pyinstaller-*)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="${1:-$(mktemp -d /tmp/radlens-pyinstaller-XXXXXX)}"
mkdir -p "$work"
shared_python="$root/.venv/bin/python"
deps="$("$shared_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
base_python="$("$shared_python" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')"

echo "== temporary PyInstaller environment in $work/venv"
[ -x "$work/venv/bin/python" ] || "$base_python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check "pyinstaller>=6.10,<7"
purelib="$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$deps" > "$purelib/zz-radlens-shared-deps.pth"   # after PyInstaller's own packages

echo "== building (nice -n 10)"
start=$(date +%s)
( cd "$root" && nice -n 10 env OMP_NUM_THREADS=1 PYTHONPATH="$root" "$work/venv/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath "$work/dist" --workpath "$work/build" installer/pyinstaller/radlens.spec )
echo "build took $(( $(date +%s) - start )) s"

bundle="$work/dist/RadLens"
echo "== bundle: $bundle"
du -sh "$bundle"
echo "files: $(find "$bundle" -type f | wc -l)"

home="$(mktemp -d /tmp/radlens-pyinstaller-home-XXXXXX)"
cd "$home"
t0=$(date +%s.%N)
env -u PYTHONPATH HOME="$home" "$bundle/radlens" --help > /dev/null
t1=$(date +%s.%N)
env -u PYTHONPATH HOME="$home" QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 \
    "$bundle/radlens" view --screenshot "$work/bundle-screenshot.png" --size 1600x1000
t2=$(date +%s.%N)
env -u PYTHONPATH HOME="$home" OMP_NUM_THREADS=1 "$bundle/radlens" explain \
    "$bundle/_internal/resources/demo/images/phantom_00003.dcm" --classes Pneumothorax --out "$work/explain-out"
python3 - "$t0" "$t1" "$t2" <<'PY'
import sys
t0, t1, t2 = map(float, sys.argv[1:])
print(f"start-up to --help: {t1 - t0:.1f} s; start-up to a screenshot with the default explanation: {t2 - t1:.1f} s")
PY
uptime
echo "screenshot: $work/bundle-screenshot.png"
