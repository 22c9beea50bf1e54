"""Opening images into the viewer state, ground truth lookup, and autosave of the user's boxes.

Qt-free. Ground truth for a folder comes from, in order: the annotation file the user imported
(``File > Import annotations``), else a ``train.csv`` (VinBigData), ``BBox_List_2017.csv`` (NIH)
or ``train-rle.csv`` (SIIM) found in the folder or its parent. Boxes are matched to an image by
:func:`engine.annotations.image_key` (file name without extension) or SOP Instance UID.

Boxes from DICOM SRs (TID 1500) in the image's folder, its direct subfolders or its sibling folders
(the study's other series) that reference the
image's SOP Instance UID join the ground truth, as another annotator's (the observer, or "RadLens
<model>" for algorithm results).

The user's boxes live in the image's sidecar (``<image>.radlens.json``): read on open (boxes with
``source == "user"``; other boxes in the sidecar join the ground truth and are written back
unchanged) and rewritten atomically after every edit, undo and redo.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.annotations import (
    AnnotationSet,
    Source,
    find_sidecar,
    image_key,
    read_annotations,
    read_sidecar,
    write_sidecar,
)
from engine.errors import RadLensError
from engine.io import StudyImage, load_image
from viewer.state import ViewerState

log = logging.getLogger(__name__)

GT_NAMES = ("train.csv", "BBox_List_2017.csv", "train-rle.csv")
Loader = Callable[[Path], StudyImage]


def find_ground_truth(path: Path) -> Path | None:
    """A ground-truth file beside ``path`` (a folder or a file's folder) or in its parent."""
    folder = path if path.is_dir() else path.parent
    for where in (folder, folder.parent):
        for name in GT_NAMES:
            if (where / name).is_file():
                return where / name
    return None


class Session:
    """Opens images into ``state`` and keeps their sidecars in step with the user's boxes.

    Args:
        state: The viewer state.
        on_error: Called with a :class:`RadLensError` that should be shown (autosave failures).
    """

    def __init__(self, state: ViewerState, on_error: Callable[[RadLensError], None] | None = None) -> None:
        self.state = state
        self.on_error = on_error or (lambda exc: log.error("%s", exc))
        self.ground_truth_path: Path | None = None
        self._gt: dict[str, AnnotationSet] = {}
        self._sidecar_other = AnnotationSet()
        self._opening = False
        self.readers: dict[str, Loader] = {}
        self.saved_to: Path | None = None
        state.subscribe("user_boxes", self._autosave)

    # --- ground truth ---------------------------------------------------------------------------
    def set_ground_truth(self, path: Path | None) -> int:
        """Use annotation file ``path`` (any format the engine reads); returns the images it covers.

        Raises:
            RadLensError: The file cannot be read (the previous ground truth stays).
        """
        gt = {image_key(k): v for k, v in read_annotations(path).items()} if path is not None else {}
        self._gt, self.ground_truth_path = gt, path
        return len(gt)

    def ground_truth_for(self, path: Path, image: StudyImage | None) -> AnnotationSet:
        keys = [image_key(path)]
        uid = getattr(getattr(image, "metadata", None), "sop_instance_uid", "")
        if uid:
            keys.append(uid)
        for key in keys:
            if key in self._gt:
                return self._gt[key]
        return AnnotationSet(image_id=image_key(path))

    def sr_boxes_for(self, path: Path, image: StudyImage | None) -> AnnotationSet:
        """Boxes that DICOM SRs near ``path`` (its folder, subfolders and sibling folders) attach to the image:
        another reader's or RadLens's earlier results (:func:`engine.annotations.dicom_sr.sr_boxes_near`)."""
        from engine.annotations.dicom_sr import sr_boxes_near

        uid = getattr(getattr(image, "metadata", None), "sop_instance_uid", "")
        try:
            return sr_boxes_near(path, uid)
        except Exception as exc:  # reading others' SRs must never stop an image from opening
            log.warning("%s: SRs beside it could not be read (%s)", path, exc)
            return AnnotationSet()

    # --- opening --------------------------------------------------------------------------------------
    def load(self, path: Path, frame: int = 0) -> StudyImage:
        """Load one frame with a plugin reader for the suffix, else :func:`engine.io.load_image`."""
        name = path.name.lower()
        for suffix, loader in self.readers.items():
            if name.endswith(suffix):
                return loader(path)
        return load_image(path, frame)

    def open(self, path: str | Path, frame: int = 0) -> StudyImage:
        """Open ``path`` (one frame) into the state with its ground truth and the user's boxes.

        Raises:
            RadLensError: The image cannot be read (the state is left as it was).
        """
        p = Path(path)
        image = self.load(p, frame)
        gt = self.ground_truth_for(p, image)
        from_sr = self.sr_boxes_for(p, image)
        if from_sr.boxes:
            gt = gt.merged(from_sr)
        user, other = self._read_sidecar(p)
        self._sidecar_other = other
        self._opening = True
        try:
            self.state.open_image(image, p, gt.merged(other) if other.boxes or other.labels else gt, user)
        finally:
            self._opening = False
        return image

    def show_frame(self, frame: int) -> StudyImage:
        """Another frame of the open file; annotations and undo history are kept.

        Raises:
            RadLensError: No file is open, or the frame cannot be read.
        """
        if self.state.image_path is None:
            raise RadLensError("no image is open, so there is no frame to show.", fix="open an image first.")
        path = Path(self.state.image_path)
        image = self.load(path, frame)
        self.state.update(image=image, explanation=None, localisation=None, perturbation=None)
        return image

    def _read_sidecar(self, path: Path) -> tuple[AnnotationSet, AnnotationSet]:
        if find_sidecar(path) is None:
            return AnnotationSet(image_id=image_key(path)), AnnotationSet()
        try:
            ann = read_sidecar(path).annotations
        except RadLensError as exc:  # a corrupt sidecar is kept as .bak by the next write
            self.on_error(exc)
            return AnnotationSet(image_id=image_key(path)), AnnotationSet()
        user = ann.filter(source=Source.USER)
        other = AnnotationSet(
            tuple(b for b in ann.boxes if b.source != Source.USER),
            tuple(lab for lab in ann.labels if lab.source != Source.USER),
            ann.image_id,
        )
        return user, other

    # --- autosave ---------------------------------------------------------------------------------------
    def _autosave(self, user_boxes: Any) -> None:
        if self._opening or self.state.image_path is None:
            return
        self.save_now()

    def save_now(self) -> Path | None:
        """Write the sidecar of the open image now (what autosave does after each edit); None when
        nothing is open or the write failed (the error goes to ``on_error``)."""
        if self.state.image_path is None:
            return None
        path = Path(self.state.image_path)
        image = self.state.image
        uid = getattr(getattr(image, "metadata", None), "sop_instance_uid", "") or None
        try:
            self.saved_to = write_sidecar(
                path,
                self.state.user_boxes.merged(self._sidecar_other),
                sop_instance_uid=uid,
                image_shape=image.shape if image is not None else None,
            )
        except RadLensError as exc:
            self.on_error(exc)
            return None
        return self.saved_to
