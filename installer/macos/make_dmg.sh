#!/usr/bin/env bash
# macOS: build RadLens.app with PyInstaller and pack it into a DMG (drag to Applications).
#   installer/macos/make_dmg.sh            (from anywhere; needs the project installed: pip install -e . pyinstaller)
# Output: dist/RadLens-<version>.dmg. Unsigned: to sign and notarize, run `codesign --deep --options runtime
# --sign "Developer ID Application: ..." dist/RadLens.app` and `xcrun notarytool submit` before the DMG step.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
python="${PYTHON:-python}"
version="$("$python" -c 'from engine.version import version; print(version())')"

"$python" -m PyInstaller --noconfirm --distpath dist --workpath build installer/pyinstaller/radlens.spec
test -d dist/RadLens.app

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cp -R dist/RadLens.app "$staging/"
ln -s /Applications "$staging/Applications"
cp installer/macos/README-dmg.txt "$staging/Read me.txt"
dmg="dist/RadLens-$version.dmg"
rm -f "$dmg"
hdiutil create -volname "RadLens $version" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$dmg"
hdiutil verify "$dmg"
echo "built $dmg"
