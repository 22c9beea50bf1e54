"""Pictures of the report as RGB arrays, rendered at the pixel size they are printed at.

The image is resampled, and the heatmap sampled from its grid (``ExplanationResult.map(...,
size=...)``), at ``printed inches x DPI`` pixels before the boxes and labels are drawn
(:func:`engine.render.draw_boxes`, labels de-overlapped), so lines and text stay sharp on paper
whatever the size of the original image.
Box colours: ground truth one colour per annotator (the same on every page), the user's boxes
cyan, the model's boxes yellow (:mod:`engine.render`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from engine.perturb.result import PerturbationResult
from engine.render import MODEL_COLOUR, USER_COLOUR, annotator_colour, blend_heatmap, draw_boxes, to_rgb

#: Resolution of every bitmap at its printed size (the tests require at least 200).
DPI = 210

Colour = tuple[int, int, int]
LegendEntry = tuple[Colour, str]


def pixels_for(inches: float, dpi: int = DPI) -> int:
    """Pixels needed to print ``inches`` at ``dpi``."""
    return int(np.ceil(inches * dpi))


def fit_size(shape: tuple[int, int], width_px: int) -> tuple[int, int]:
    """(width, height) in pixels for an image of ``shape`` (H, W) drawn ``width_px`` wide."""
    h, w = shape
    return width_px, max(1, round(h * width_px / w))


def resample(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float H x W (or H x W x 3) array resampled to ``size`` = (width, height): bicubic up, area down."""
    a = np.asarray(a, dtype=np.float32)
    if a.shape[1] == size[0] and a.shape[0] == size[1]:
        return a
    method = Image.Resampling.BICUBIC if size[0] > a.shape[1] else Image.Resampling.BOX
    if a.ndim == 2:
        return np.asarray(Image.fromarray(a, mode="F").resize(size, method))
    return np.stack([resample(a[..., c], size) for c in range(a.shape[2])], axis=2)


def annotator_order(*sets: Any) -> list[str]:
    """Ground-truth annotators, sorted, so that each keeps one colour on every page."""
    names = set()
    for s in sets:
        if s is not None:
            names |= {b.annotator for b in s.boxes if str(getattr(b.source, "value", b.source)) == "ground_truth"}
    return sorted(names)


def _boxes(annotations: Any, classes: Iterable[str] | None, source: str) -> list[Any]:
    if annotations is None:
        return []
    wanted = None if classes is None else {c.lower() for c in classes}
    return [b for b in annotations.boxes if str(getattr(b.source, "value", b.source)) == source
            and (wanted is None or b.class_name.lower() in wanted)]


def box_drawings(
    ground_truth: Any, user_boxes: Any, localisation: Mapping[str, Any], classes: Sequence[str], *,
    label_class: bool,
) -> tuple[list[tuple[tuple[float, ...], Colour, str]], list[LegendEntry]]:
    """(box, colour, label) triples in image pixels and the legend explaining the colours.

    Args:
        ground_truth: Ground-truth ``AnnotationSet`` (per-annotator colours) or None.
        user_boxes: The user's ``AnnotationSet`` or None.
        localisation: Class -> ``ClassLocalisation`` (model boxes).
        classes: The classes whose boxes are drawn (GT and user boxes of other classes are left out).
        label_class: Put the class name in the labels (the overview shows several classes).
    """
    order = annotator_order(ground_truth, user_boxes)
    drawings: list[tuple[tuple[float, ...], Colour, str]] = []
    legend: list[LegendEntry] = []
    gt = _boxes(ground_truth, classes, "ground_truth") + _boxes(user_boxes, classes, "ground_truth")
    for ann in order:
        mine = [b for b in gt if b.annotator == ann]
        if not mine:
            continue
        colour = annotator_colour(order.index(ann))
        legend.append((colour, f"Ground truth, annotator {ann} ({len(mine)} box{'es' if len(mine) != 1 else ''})"))
        drawings += [(b.as_tuple(), colour, f"{b.class_name} ({ann})" if label_class else ann) for b in mine]
    user = _boxes(user_boxes, classes, "user") + _boxes(ground_truth, classes, "user")
    if user:
        legend.append((USER_COLOUR, f"Your boxes ({len(user)})"))
        drawings += [(b.as_tuple(), USER_COLOUR, f"{b.class_name} (you)" if label_class else "you") for b in user]
    n_model = 0
    for name in classes:
        loc = localisation.get(name)
        if loc is None:
            continue
        n_model += len(loc.boxes)
        drawings += [(tuple(float(v) for v in bx), MODEL_COLOUR, f"{name} (model)" if label_class else "model")
                     for bx in loc.boxes]
    if n_model or classes:
        thr = next((localisation[c].threshold for c in classes if c in localisation), "")
        legend.append((MODEL_COLOUR, f"Model boxes, cut from the heatmap at {thr} ({n_model})"))
    return drawings, legend


def _draw(rgb: np.ndarray, drawings: list[tuple[tuple[float, ...], Colour, str]], scale: float) -> np.ndarray:
    """Boxes and de-overlapped labels (:func:`engine.render.draw_boxes`), lines and text sized for print."""
    short = min(rgb.shape[:2])
    return draw_boxes(rgb, drawings, scale=scale, width=max(2, round(short / 350)),
                      font_size=max(12, round(short / 42)))


def overview_image(inp: Any, width_in: float, dpi: int = DPI) -> tuple[np.ndarray, list[LegendEntry]]:
    """The image as displayed, with ground-truth, user and model boxes of the report's classes."""
    display = inp.image.display
    size = fit_size(display.shape[:2], pixels_for(width_in, dpi))
    rgb = to_rgb(resample(display, size))
    drawings, legend = box_drawings(inp.ground_truth, inp.user_boxes, inp.localisation, inp.classes, label_class=True)
    return _draw(rgb, drawings, size[0] / display.shape[1]), legend


def class_image(inp: Any, name: str, width_in: float, dpi: int = DPI) -> tuple[np.ndarray, list[LegendEntry]]:
    """One class's heatmap blended over the image, with that class's boxes."""
    display = inp.image.display
    size = fit_size(display.shape[:2], pixels_for(width_in, dpi))
    heat = inp.explanation.map(name, "image", size=(size[1], size[0]))  # sampled from the grid at print size
    rgb = blend_heatmap(resample(display, size), np.clip(heat, 0.0, 1.0), cmap=inp.colormap, alpha=inp.alpha)
    drawings, legend = box_drawings(inp.ground_truth, inp.user_boxes, inp.localisation, (name,), label_class=False)
    return _draw(rgb, drawings, size[0] / display.shape[1]), legend


def curves_image(p: PerturbationResult, width_in: float, height_in: float, dpi: int = DPI) -> np.ndarray | None:
    """Deletion and insertion curves (score of the class vs fraction) with the random-order band.

    Returns None when the perturbation holds neither curve.
    """
    panels = [(k, c) for k, c in (("deletion", p.summary.deletion), ("insertion", p.summary.insertion))
              if c is not None and c.scores]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    rnd = p.random
    names = {"morf": "most relevant first", "lerf": "least relevant first", "random": "random order (seeded)"}
    for i, (kind, curve) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        f = np.asarray(curve.fractions or p.fractions or (), dtype=float)
        s = np.asarray(curve.scores, dtype=float)
        order = p.order
        ax.plot(f, s, color="#c0392b" if kind == "deletion" else "#1f6fb2", lw=1.8,
                label=f"{'most' if order == 'morf' else 'least' if order == 'lerf' else order} relevant first")
        for other, summary in p.orders.items():  # the other ranked orders run alongside
            o_curve = getattr(summary, kind)
            if other != order and o_curve is not None and len(o_curve.scores) == len(f):
                ax.plot(f, np.asarray(o_curve.scores, float), color="#7d3c98", lw=1.3, ls=":",
                        label=names.get(other, str(other)))
        mean = getattr(rnd, f"{kind}_mean") if rnd is not None else ()
        sd = getattr(rnd, f"{kind}_sd") if rnd is not None else ()
        if rnd is not None and mean and len(mean) == len(f):
            m = np.asarray(mean, float)
            ax.plot(f, m, color="0.35", lw=1.2, ls="--", label=f"random order (mean of {len(rnd.seeds)})")
            if sd and len(sd) == len(f):
                band = np.asarray(sd, float)
                ax.fill_between(f, m - band, m + band, color="0.6", alpha=0.35, lw=0, label="random ± 1 sd")
        auc = p.summary.deletion_auc if kind == "deletion" else p.summary.insertion_auc
        title = f"{kind.capitalize()}" + (f" (AUC {auc:.3f})" if auc is not None else "")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("fraction of pixels " + ("removed" if kind == "deletion" else "inserted"), fontsize=8)
        ax.set_ylabel(f"p({p.target or 'class'})", fontsize=8)
        ax.set_xlim(float(f.min()), float(f.max()))
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.5)
        # under the axes, so that it never covers a curve
        ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.3, top=0.91, wspace=0.25)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
