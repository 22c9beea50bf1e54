"""What the explanation-overlay plugin contributes. Imports nothing but the plugin API."""

from __future__ import annotations

from plugins.api import Command, Panel, PluginManifest

_HERE = "plugins.explain_overlay"

MANIFEST = PluginManifest(
    name="explanation-overlay",
    version="1.0",
    description=(
        "Explain the model's decision on the open image: per-class probabilities with their decision "
        "thresholds, the class map as outline or heatmap with a labelled scale, boxes cut from the map "
        "and their IoU against every annotator and your own boxes, and a linked side-by-side comparison."
    ),
    builtin=True,
    contributions=(
        Panel(
            id="explanation",
            title="Explanation",
            factory=f"{_HERE}.commands:create_panel",
            area="right",
            shortcut="Ctrl+Shift+E",
        ),
        Command(
            id="explanation.run",
            title="Explain image",
            callback=f"{_HERE}.commands:run_explanation",
            menu="Explain",
            shortcut="Ctrl+E",
        ),
        Command(
            id="explanation.cancel",
            title="Cancel explanation",
            callback=f"{_HERE}.commands:cancel_explanation",
            menu="Explain",
        ),
        Command(
            id="explanation.compare",
            title="Compare side by side…",
            callback=f"{_HERE}.commands:open_comparison",
            menu="Explain",
        ),
    ),
)
