#!/usr/bin/env bash
# RadLens workstation installer for Linux: finds Python >= 3.11 and runs install.py beside this file.
#   installer/linux/install.sh [--prefix DIR] [--wheel FILE | --wheelhouse DIR | --index-url URL]
#                              [--cpu | --cuda] [--uninstall]        (--help for every option)
# RADLENS_PYTHON=/path/to/python3.11 chooses the interpreter.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for py in "${RADLENS_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
  [ -n "$py" ] || continue
  command -v "$py" >/dev/null 2>&1 || continue
  if "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    exec "$py" "$here/install.py" "$@"
  fi
done
echo "install.sh: RadLens needs Python 3.11 or newer (with its venv module); none was found on the PATH." >&2
echo "  Debian/Ubuntu: sudo apt-get install -y python3.11 python3.11-venv   (or set RADLENS_PYTHON=/path/to/python3.11)" >&2
exit 1
