"""What the perturbation-lab plugin contributes. Imports nothing but the plugin API."""

from __future__ import annotations

from plugins.api import Panel, PluginManifest

MANIFEST = PluginManifest(
    name="perturbation-lab",
    version="1.0",
    description=(
        "Test the explanation: replace the pixels the selected class's map ranks highest (or lowest, or "
        "in random order), or a box you drew, and watch every class's probability move live; deletion and "
        "insertion curves against a random-order band; robustness to noise, blur, contrast and brightness."
    ),
    builtin=True,
    contributions=(
        Panel(
            id="perturbation",
            title="Perturbation",
            factory="plugins.perturb_lab.panel:create_panel",
            area="bottom",
            shortcut="Ctrl+Shift+P",
        ),
    ),
)
