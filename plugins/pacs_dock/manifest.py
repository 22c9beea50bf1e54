"""What the PACS plugin contributes. Imports nothing but the plugin API."""

from __future__ import annotations

from plugins.api import Command, Panel, PluginManifest

_HERE = "plugins.pacs_dock"

MANIFEST = PluginManifest(
    name="pacs",
    version="1.0",
    description=(
        "Query/retrieve from a PACS (DICOMweb WADO-RS, DIMSE C-GET or C-MOVE) into the local cache, with "
        "progress and Cancel; the first image opens as soon as it arrives and the study appears in the study "
        "browser. Send files by STOW-RS or C-STORE through an outbox that keeps what the PACS did not acknowledge."
    ),
    builtin=True,
    contributions=(
        Panel(id="pacs.dock", title="PACS", factory=f"{_HERE}.panel:create_panel", area="right",
              shortcut="Ctrl+Shift+K", visible=False),
        Command(id="pacs.send_files", title="Send files to PACS…", callback=f"{_HERE}.send:send_files_command",
                menu="File"),
        Command(id="pacs.nodes", title="PACS nodes…", callback=f"{_HERE}.nodes_dialog:show_nodes_dialog",
                menu="Tools"),
    ),
)
