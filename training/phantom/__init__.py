"""Seeded phantom frontal chest radiographs with exact ground truth.

Public API::

    from training.phantom import PhantomConfig, generate_case, generate_dataset, CLASSES
    from training.phantom import GazeConfig, simulate_gaze   # simulated gaze (docs/gaze.md)
"""

from training.phantom.annotators import AnnotatorBox
from training.phantom.case import PhantomCase, TrueFinding, generate_case
from training.phantom.config import (
    BOX_CONVENTION,
    CLASSES,
    GENERATOR_VERSION,
    NO_FINDING,
    NO_FINDING_ID,
    PhantomConfig,
    PhantomConfigError,
)
from training.phantom.gaze import GazeConfig, simulate_gaze
from training.phantom.geometry import box_iou, cardiothoracic_ratio, decode_rle, tight_box

__all__ = [
    "BOX_CONVENTION",
    "CLASSES",
    "GENERATOR_VERSION",
    "NO_FINDING",
    "NO_FINDING_ID",
    "AnnotatorBox",
    "GazeConfig",
    "PhantomCase",
    "PhantomConfig",
    "PhantomConfigError",
    "TrueFinding",
    "box_iou",
    "cardiothoracic_ratio",
    "decode_rle",
    "generate_case",
    "simulate_gaze",
    "tight_box",
]
