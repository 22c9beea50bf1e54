"""Patient-level train/validation/test splits: a patient's images never cross splits."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.annotations import image_key
from training.config import DataConfig
from training.datasets import Example, TrainDataError


@dataclass(frozen=True)
class Split:
    """Indices (into the example list) of each split, and each image's patient.

    Attributes:
        train: Training image indices.
        val: Validation image indices.
        test: Test image indices.
        patients: Patient id of every image.
    """

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    patients: tuple[str, ...]

    def summary(self) -> dict[str, int]:
        """Image and patient counts per split."""
        out: dict[str, int] = {}
        for name in ("train", "val", "test"):
            idx = getattr(self, name)
            out[f"{name}_images"] = len(idx)
            out[f"{name}_patients"] = len({self.patients[i] for i in idx})
        return out

    def to_dict(self, ids: Sequence[str]) -> dict[str, object]:
        """JSON-ready: image ids and patients per split."""
        return {
            "schema_version": 1,
            **{name: [ids[i] for i in getattr(self, name)] for name in ("train", "val", "test")},
            "patients": {ids[i]: p for i, p in enumerate(self.patients)},
        }


def patient_split(
    patients: Sequence[str], val_fraction: float, test_fraction: float, seed: int
) -> Split:
    """Split images by patient: patients are shuffled (seeded) and dealt to test, then val, then train.

    Each split takes whole patients until it holds at least its fraction of the images; the
    rest is training. With few patients a split may be empty.

    Args:
        patients: Patient id of each image.
        val_fraction: Target share of images for validation.
        test_fraction: Target share of images for test.
        seed: Shuffle seed.

    Returns:
        The :class:`Split`; image indices sorted within each split.
    """
    by_patient: dict[str, list[int]] = {}
    for i, p in enumerate(patients):
        by_patient.setdefault(p, []).append(i)
    # A seeded hash orders patients: the split depends on the seed, not on the input order.
    order = sorted(by_patient, key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    n = len(patients)
    targets = (("test", test_fraction * n), ("val", val_fraction * n))
    chosen: dict[str, list[int]] = {"test": [], "val": [], "train": []}
    stage = 0
    for p in order:
        while stage < len(targets) and len(chosen[targets[stage][0]]) >= targets[stage][1]:
            stage += 1
        name = targets[stage][0] if stage < len(targets) else "train"
        chosen[name].extend(by_patient[p])
    return Split(
        tuple(sorted(chosen["train"])), tuple(sorted(chosen["val"])), tuple(sorted(chosen["test"])),
        tuple(patients),
    )


def resolve_patients(cfg: DataConfig, examples: Sequence[Example], dicom_ids: Sequence[str]) -> tuple[list[str], str]:
    """Patient id of each example and a note saying where they came from.

    Raises:
        TrainDataError: ``patient_source`` asks for ids that are missing.
    """
    src = cfg.patient_source
    ids = [e.image_id for e in examples]
    if src == "csv":
        table = _read_patient_csv(Path(cfg.patient_csv), cfg.image_column, cfg.patient_column)
        missing = [i for i in ids if i not in table]
        if missing:
            raise TrainDataError(f"{len(missing)} images have no patient in the CSV (e.g. {missing[0]}).",
                                 path=cfg.patient_csv, fix="list every image or use patient_source: auto.")
        return [table[i] for i in ids], f"CSV column '{cfg.patient_column}'"
    if src == "dicom":
        missing = [i for i, p in zip(ids, dicom_ids, strict=True) if not p]
        if missing:
            raise TrainDataError(f"{len(missing)} images carry no DICOM PatientID (e.g. {missing[0]}).",
                                 fix="use patient_source: csv with a patient table.")
        return list(dicom_ids), "DICOM PatientID"
    if src == "nih_prefix":
        return [i.split("_")[0] for i in ids], "NIH file-name prefix"
    if src == "image":
        return ids, "one patient per image (no patient information)"
    out, sources = [], set()
    for e, pid in zip(examples, dicom_ids, strict=True):
        if pid:
            out.append(pid)
            sources.add("DICOM PatientID")
        elif e.patient_hint:
            out.append(e.patient_hint)
            sources.add("file-name prefix")
        else:
            out.append(e.image_id)
            sources.add("image id (no patient information)")
    return out, " / ".join(sorted(sources))


def _read_patient_csv(path: Path, image_column: str, patient_column: str) -> dict[str, str]:
    if not path.is_file():
        raise TrainDataError("patient CSV not found.", path=path, fix="check data.patient_csv.")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        for col in (image_column, patient_column):
            if col not in fields:
                raise TrainDataError(f"patient CSV has no column '{col}' (columns: {fields}).", path=path,
                                     fix="set data.image_column / data.patient_column.")
        return {image_key(row[image_column].strip()): row[patient_column].strip() for row in reader}
