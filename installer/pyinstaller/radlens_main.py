"""Entry point of the PyInstaller bundle: the ``radlens`` command (no arguments: the viewer)."""

import multiprocessing

from viewer.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(main())
