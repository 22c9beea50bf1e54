"""Mutated DICOM bytes never make the loader or the scanner raise anything but RadLensError."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from engine.errors import RadLensError
from engine.io import load_image
from engine.io.study import scan_folder
from engine.io.synthetic import write_dicom


def _seed_bytes() -> bytes:
    item = Dataset()
    item.add_new(0x00283002, "US", [4, 0, 8])
    item.add_new(0x00283006, "US", [0, 85, 170, 255])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.dcm"
        pixels = (np.arange(2 * 6 * 5).reshape(2, 6, 5) * 37).astype(np.int16)
        write_dicom(
            path,
            pixels,
            RescaleSlope=2,
            RescaleIntercept=-10,
            WindowCenter=[0, 50],
            WindowWidth=[100, 20],
            WindowCenterWidthExplanation=["A", "B"],
            VOILUTSequence=Sequence([item]),
            PixelSpacing=[0.5, 0.5],
            PatientName="Fuzz^Me",
            InstanceNumber=1,
        )
        return path.read_bytes()


SEED = _seed_bytes()

_mutation = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
    st.integers(0, len(SEED) - 1),
    st.integers(0, 255),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, value in mutations:
        pos = pos % max(1, len(buf))
        if op == "flip":
            buf[pos] ^= 1 << (value % 8)
        elif op == "set":
            buf[pos] = value
        elif op == "insert":
            buf[pos:pos] = bytes([value]) * (1 + value % 4)
        elif op == "delete":
            del buf[pos : pos + 1 + value % 8]
        else:
            del buf[pos:]
        if not buf:
            break
    return bytes(buf)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mutation, min_size=1, max_size=6))
def test_io_fuzzed_dicom_loads_or_raises_radlens_error(mutations: list[tuple[str, int, int]]) -> None:
    data = _mutate(SEED, mutations)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "fuzz.dcm"
        path.write_bytes(data)
        for frame in (0, 1):
            try:
                image = load_image(path, frame=frame)
            except RadLensError:
                continue
            assert image.display.shape == image.raw.shape
            assert np.isfinite(image.display).all()
        index = scan_folder(tmp)  # the scanner reports instead of raising
        assert index.n_images + len(index.errors) + len(index.skipped) == 1
