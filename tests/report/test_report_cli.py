"""``radlens report``: exit 0 and a PDF on success; exit 1, a message naming the file and the fix, and
nothing written on bad input."""

from __future__ import annotations

import json

import pytest
from report_helpers import DEMO, DEMO_CSV, DEMO_IMAGE, flat, pdf_pages_text

from viewer.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["report", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_writes_a_report(tmp_path, capsys):
    out = tmp_path / "sub" / "r.pdf"
    rc, stdout, err = _run(capsys, str(DEMO_IMAGE), "--model", "default", "--method", "gradcam",
                           "--classes", "Pneumothorax,cardiomegaly", "--annotations", str(DEMO_CSV),
                           "--threshold", "top:0.05", "--out", str(out))
    assert rc == 0, err
    assert f"wrote {out}" in stdout and out.read_bytes().startswith(b"%PDF-")
    pages = pdf_pages_text(out)
    text = flat(" ".join(pages))
    assert len(pages) == 2 + 2 + 1  # two class pages
    assert "Annotator R11" in text and "radlens report" in text and "--classes Pneumothorax,Cardiomegaly" in text


@pytest.mark.parametrize(
    ("argv", "needle", "fix"),
    [
        (["/nonexistent/x.dcm"], "/nonexistent/x.dcm", "Fix:"),
        ([str(DEMO_IMAGE), "--model", "/nonexistent/bundle"], "/nonexistent/bundle", "model.json"),
        ([str(DEMO_IMAGE), "--classes", "Pneumothorax,Fracture"], "'Fracture'", "Fix: use those names"),
        ([str(DEMO_IMAGE), "--classes", ","], "names no class", "Fix:"),
        # the second demo image is a normal study: no class is positive, so the default has nothing to report
        ([str(DEMO / "images" / "phantom_00001.dcm")], "phantom_00001.dcm", "--classes"),
    ],
    ids=["unreadable-image", "no-model", "unknown-class", "no-class", "nothing-explained"],
)
def test_cli_bad_input(tmp_path, capsys, argv, needle, fix):
    out = tmp_path / "r.pdf"
    rc, _, err = _run(capsys, *argv, "--out", str(out))
    assert rc == 1
    assert err.startswith("radlens report: error:") and needle in err and fix in err, err
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_perturbation_file(tmp_path, capsys):
    bad = tmp_path / "perturb.json"
    bad.write_text(json.dumps({"format": "something else"}))
    out = tmp_path / "r.pdf"
    rc, _, err = _run(capsys, str(DEMO_IMAGE), "--classes", "Pneumothorax", "--perturbation", str(bad),
                      "--out", str(out))
    assert rc == 1 and str(bad) in err and "radlens perturb" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["perturb.json"]
