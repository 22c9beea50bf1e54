"""The registry of metric blocks (``metrics:`` in a study file).

Adding a block: subclass :class:`~training.study.blocks.base.Block` in a module of this package
(its sections, validation, result columns, per-image rows, tables and figures) and list an
instance in :data:`BLOCKS`. The store schema, the study file's accepted keys, the per-image work,
``radlens study report`` and the docs' key listing all follow from the registry.
"""

from __future__ import annotations

from training.study.blocks.base import Block, ImageJob, common_row
from training.study.blocks.classification import ClassificationBlock
from training.study.blocks.gaze import GazeBlock
from training.study.blocks.localisation import LocalisationBlock
from training.study.blocks.perturbation import PerturbationBlock
from training.study.blocks.regression import RegressionBlock
from training.study.blocks.robustness import RobustnessBlock
from training.study.blocks.sanity import SanityBlock

#: Registered blocks by name, in the order their tables are rendered.
BLOCKS: dict[str, Block] = {b.name: b for b in (
    LocalisationBlock(), PerturbationBlock(), RobustnessBlock(), SanityBlock(), ClassificationBlock(), GazeBlock(),
    RegressionBlock(),
)}


def get_block(name: str) -> Block:
    """The registered block ``name`` (KeyError when there is none: the study file validation names them)."""
    return BLOCKS[name]


__all__ = ["BLOCKS", "Block", "ImageJob", "common_row", "get_block"]
