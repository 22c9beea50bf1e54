"""PNG plots of deletion/insertion curves with the random band (matplotlib, Agg, no pyplot state)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write_bytes
from engine.perturb.curves import CurveResult, normalised_auc

COLOURS = {"morf": "#c0392b", "lerf": "#2471a3", "random": "#7f8c8d"}
LABELS = {"morf": "most relevant first", "lerf": "least relevant first", "random": "random"}


def plot_curves(curves: CurveResult, path: str | Path, title: str = "") -> Path:
    """Deletion (left) and insertion (right) of the target class: every order and the random band."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    f = np.asarray(curves.fractions) * 100
    for ax, kind in zip(fig.subplots(1, 2), ("deletion", "insertion"), strict=True):
        band = curves.random_deletion if kind == "deletion" else curves.random_insertion
        if band.shape[0]:
            b = band[:, :, curves.t]
            mean, sd = b.mean(0), b.std(0, ddof=1 if b.shape[0] > 1 else 0)
            aucs = [normalised_auc(curves.fractions, c) for c in b]
            ax.fill_between(f, mean - sd, mean + sd, color=COLOURS["random"], alpha=0.25, lw=0)
            ax.plot(f, mean, color=COLOURS["random"], ls="--",
                    label=f"random, {b.shape[0]} seeds (AUC {np.mean(aucs):.3f} ± "
                          f"{np.std(aucs, ddof=1 if len(aucs) > 1 else 0):.3f})")
        for order in curves.deletion:
            s = curves.scores(kind, order)
            ax.plot(f, s, color=COLOURS.get(order, "k"), marker="o", ms=3,
                    label=f"{LABELS.get(order, order)} (AUC {normalised_auc(curves.fractions, s):.3f})")
        ax.set_xlabel("pixels " + ("replaced" if kind == "deletion" else "restored") + " (%)")
        ax.set_ylabel(f"p({curves.target})")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(f[0], f[-1])
        base = curves.replacement if kind == "deletion" else curves.baseline
        ax.set_title(f"{kind} ({'replaced by' if kind == 'deletion' else 'from'} {_mode_label(base)})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle((title + " - " if title else "") + "research use - not for diagnostic use", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def _mode_label(rep: object) -> str:
    mode = getattr(rep, "mode", str(rep))
    params = getattr(rep, "params", {})
    if mode == "blur":
        return f"blur {params.get('ksize') or ''}{'x' + str(params.get('ksize')) if params.get('ksize') else ''}" \
               f" σ={params.get('sigma', 0):.2g}"
    return mode.replace("_", " ")
