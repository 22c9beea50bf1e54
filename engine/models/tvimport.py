"""Import torchvision without importing ``torch._dynamo`` on the way (issue #19: start-up time).

torchvision's ``ops/roi_align.py`` runs ``from torch._dynamo.utils import is_compile_supported`` at
import time, and importing ``torch._dynamo`` costs about 1.2 s and 170 MB on the 2-core machine
RadLens is measured on: more than half of ``radlens explain``'s import time. RadLens builds its
classifiers from ``torchvision.models`` and never compiles them, and ``roi_align`` only calls that
function when someone runs RoIAlign.

:func:`import_torchvision` therefore imports torchvision with two stand-in modules in
``sys.modules`` for the duration of the import: ``torch._dynamo`` (empty) and
``torch._dynamo.utils`` whose ``is_compile_supported`` imports the real function on its first call
and forwards to it. Afterwards both stand-ins are removed, so any later ``import torch._dynamo``
(``torch.compile``, a user's code) loads the real package as if nothing had happened. If the
import touches anything else of ``torch._dynamo`` (a torchvision release that uses more of it), the
partial import is undone and torchvision is imported the ordinary way: correctness never depends
on the shortcut, only the time does.
"""

from __future__ import annotations

import sys
import types
from typing import Any

_DYNAMO = "torch._dynamo"
_DYNAMO_UTILS = "torch._dynamo.utils"


def _is_compile_supported(device_type: Any) -> Any:
    """``torch._dynamo.utils.is_compile_supported``, imported on first use."""
    from torch._dynamo.utils import is_compile_supported

    return is_compile_supported(device_type)


def import_torchvision() -> types.ModuleType:
    """``import torchvision``, without importing ``torch._dynamo`` when that can be avoided."""
    if "torchvision" in sys.modules or _DYNAMO in sys.modules:
        import torchvision

        return torchvision
    import torch

    package = types.ModuleType(_DYNAMO, "stand-in while torchvision imports (engine.models.tvimport)")
    package.__path__ = []  # a package with no submodules: any other submodule import fails
    utils = types.ModuleType(_DYNAMO_UTILS, package.__doc__)
    utils.is_compile_supported = _is_compile_supported  # type: ignore[attr-defined]
    sys.modules[_DYNAMO], sys.modules[_DYNAMO_UTILS] = package, utils
    try:
        import torchvision
    except Exception:  # any failure: undo, and import the ordinary way below
        _forget("torchvision")
        torchvision = None
    finally:
        for name, stand_in in ((_DYNAMO_UTILS, utils), (_DYNAMO, package)):
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
        if torch.__dict__.get("_dynamo") is package:  # torch's own lazy __getattr__ imports the real one
            del torch._dynamo
    if torchvision is None:
        import torchvision
    return torchvision


def _forget(package: str) -> None:
    """Remove ``package`` and its submodules from ``sys.modules`` (an import that was undone)."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
