"""torchvision imported without ``torch._dynamo`` (engine.models.tvimport), each case in a fresh
interpreter: the shortcut must leave torch exactly usable (RoIAlign, the real torch._dynamo) afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_torchvision_builds_models_without_dynamo_and_dynamo_stays_real() -> None:
    out = run("""
        import sys, torch
        from engine.models.tvimport import import_torchvision
        tv = import_torchvision()
        print('dynamo-after-import', 'torch._dynamo' in sys.modules, 'torch._dynamo.utils' in sys.modules)
        print('attribute-left', '_dynamo' in torch.__dict__)
        m = tv.models.resnet18(weights=None, num_classes=3)
        print('resnet', tuple(m(torch.zeros(1, 3, 64, 64)).shape))
        boxes = torch.tensor([[0, 0.0, 0.0, 3.0, 3.0]])
        x = torch.arange(64.0).reshape(1, 1, 8, 8)
        # RoIAlign of a linear ramp is the ramp at the bins' centres: known answer
        got = tv.ops.roi_align(x, boxes, (1, 1), sampling_ratio=2, aligned=False)
        print('roi', float(got))
        import torch._dynamo
        print('real', torch._dynamo.utils.is_compile_supported.__module__, hasattr(torch._dynamo, 'optimize'))
    """)
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert lines["dynamo-after-import"] == "False False"
    assert lines["attribute-left"] == "False"
    assert lines["resnet"] == "(1, 3)"
    roi = float(lines["roi"])
    assert abs(roi - 13.5) < 1e-5, roi  # bin centre (1.5, 1.5) of the 0..63 ramp: 8*1.5 + 1.5
    assert lines["real"] == "torch._dynamo.utils True"


def test_falls_back_to_the_ordinary_import_when_more_of_dynamo_is_needed() -> None:
    out = run("""
        import sys, types, importlib.abc, importlib.machinery
        class NeedsMore(importlib.abc.MetaPathFinder):  # torchvision 'starts' using another dynamo module
            def find_spec(self, name, path, target=None):
                if name == 'torchvision.models':
                    import torch._dynamo.eval_frame  # fails against the stand-in package
                return None
        sys.meta_path.insert(0, NeedsMore())
        import torch
        from engine.models.tvimport import import_torchvision
        tv = import_torchvision()
        sys.meta_path.pop(0)
        print('ok', tv.models.resnet18 is not None, 'torch._dynamo' in sys.modules,
              type(sys.modules['torch._dynamo'].__dict__.get('optimize')).__name__)
    """)
    assert out == "ok True True function"


def test_a_vgg_gap_bundle_loads_without_dynamo() -> None:
    """The VGG-GAP head is built on the meta device; VGG's own initialisation there would import
    torch._dynamo (about 2 s of a viewer's start), so it runs afterwards on the real tensors."""
    out = run("""
        import sys
        from engine import load_model
        m = load_model('resources/models/phantom-vgg11')
        print('dynamo', 'torch._dynamo' in sys.modules)
        w = m.module.features[0].weight
        print('initialised', bool(w.abs().sum() > 0))
    """)
    assert dict(line.split(" ", 1) for line in out.splitlines()) == {"dynamo": "False", "initialised": "True"}
