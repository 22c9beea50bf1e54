"""Results out, as DICOM: SR (TID 1500), Parametric Map, Secondary Capture, Encapsulated PDF.

Qt-free; built with highdicom (and pydicom for the Encapsulated PDF). One entry point::

    write_results(out_dir, image, result, *, classes=None, localisation=None, user_boxes=None,
                  annotations=None, pdf=None, deidentify=False, ...) -> list[Path]

It writes every object of one explained image into ``out_dir`` (new series in the source's study,
new SOP Instance UIDs) and returns their paths, which a PACS sender can take as they are. Reading
SRs back is :mod:`engine.annotations.dicom_sr`. What each object holds, the codes and the
``dciodvfy`` status: ``docs/dicom-export.md``.
"""

from engine.dicom_out.common import DicomExportError, deidentify_dataset
from engine.dicom_out.writer import write_encapsulated_pdf, write_results

__all__ = ["DicomExportError", "deidentify_dataset", "write_encapsulated_pdf", "write_results"]
