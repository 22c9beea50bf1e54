"""What the report-export plugin contributes. Imports nothing but the plugin API."""

from __future__ import annotations

from plugins.api import Command, PluginManifest

_HERE = "plugins.report_export"

MANIFEST = PluginManifest(
    name="report-export",
    version="1.0",
    description=(
        "Export a PDF explanation report of what the viewer shows: the image with ground-truth, your and the "
        "model's boxes, the selected class's heatmap with its scale, all probabilities, the method and its "
        "parameters, IoU/pointing tables, the perturbation run if any, and the model card. Save the results as "
        "DICOM (TID 1500 SR, parametric map, secondary captures) or send them to a PACS node (Export to PACS…)."
    ),
    builtin=True,
    contributions=(
        Command(
            id="report.export",
            title="Export report…",
            callback=f"{_HERE}.export:export_report",
            menu="File",
            shortcut="Ctrl+Shift+R",
        ),
        Command(
            id="report.export_deidentified",
            title="Export de-identified report…",
            callback=f"{_HERE}.export:export_deidentified_report",
            menu="File",
        ),
        Command(
            id="report.save_dicom",
            title="Save as DICOM…",
            callback=f"{_HERE}.dicom:save_as_dicom",
            menu="File",
        ),
        Command(
            id="report.export_pacs",
            title="Export to PACS…",
            callback=f"{_HERE}.to_pacs:export_to_pacs",
            menu="File",
        ),
    ),
)
