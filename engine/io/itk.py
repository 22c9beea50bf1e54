"""NIfTI, MHA/MHD and NRRD images via SimpleITK.

Conventions: a 2-D image loads as is; a 3-D volume is shown one axial slice at a time, ``frame``
being the slice index along the last ITK axis (``n_frames`` = number of slices). 4-D images and
images with more than 4 components raise :class:`UnsupportedImageError`. The array is shown in
ITK index order (row = y index, column = x index); the direction cosines are not applied.
Spacing is ``(y, x)`` from the ITK image, source ``"ITK spacing"``. The window is
``"auto: min/max"`` of the slice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import CorruptPixelDataError, UnsupportedImageError
from engine.io import pipeline
from engine.io.model import (
    AUTO_MINMAX,
    FrameIndexError,
    SpacingSource,
    StudyImage,
    Window,
    make_image,
)


def load_itk(path: Path, frame: int = 0) -> StudyImage:
    """Load one slice of a NIfTI/MHA/NRRD image (see :func:`engine.io.load_image`)."""
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise CorruptPixelDataError(f"SimpleITK cannot read it ({str(exc).strip()[-300:]}).", path=path) from exc
    dim = image.GetDimension()
    size = image.GetSize()
    if dim > 3 and any(s > 1 for s in size[3:]):
        raise UnsupportedImageError(
            f"is a {dim}-D image of size {size}; RadLens shows 2-D images and 3-D volumes slice by slice.", path=path
        )
    arr = sitk.GetArrayFromImage(image)  # (z, y, x[, c]) in reverse ITK order
    components = image.GetNumberOfComponentsPerPixel()
    if components > 1:
        arr = arr.reshape((-1, size[1], size[0], components))
    else:
        arr = arr.reshape((-1, size[1], size[0]))
    n_frames = arr.shape[0]
    if not 0 <= frame < n_frames:
        raise FrameIndexError(
            f"has {n_frames} slice(s); slice {frame} does not exist.",
            path=path,
            fix=f"Ask for a frame from 0 to {n_frames - 1}.",
        )
    plane = arr[frame]
    if components == 4:
        plane = plane[..., :3]
    elif components not in (1, 3):
        raise UnsupportedImageError(f"has {components} components per pixel.", path=path)
    if plane.dtype.kind == "c":
        raise UnsupportedImageError("holds complex pixels.", path=path)
    spacing = image.GetSpacing()
    center, width = pipeline.auto_window(plane)
    window = Window(center, width, "LINEAR_EXACT", AUTO_MINMAX, AUTO_MINMAX)
    name = path.name.lower()
    fmt = "NIfTI" if ".nii" in name else ("NRRD" if ".nrrd" in name or ".nhdr" in name else "MHA")
    return make_image(
        path=path,
        kind="itk",
        raw=plane,
        window=window,
        windows=(window,),
        photometric="RGB" if plane.ndim == 3 else "MONOCHROME2",
        modality_lut="none (voxel values)",
        inversion_reason="ITK image",
        n_frames=n_frames,
        frame_index=frame,
        spacing=(float(spacing[1]), float(spacing[0])),
        spacing_source=SpacingSource.ITK,
        transfer_syntax=f"{fmt} ({image.GetPixelIDTypeAsString()})",
        decoder=f"SimpleITK {sitk.Version.VersionString()}",
        stored_dtype=str(np.asarray(plane).dtype),
    )
