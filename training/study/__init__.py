"""Dataset studies (``radlens study``): research protocols over a whole data set, on Ray, resumable.

Public API::

    from training.study import load_study, run_study, report_study, list_presets
    cfg = load_study("preset:localisation").with_overrides(folder="data/phantom", limit=50)
    summary = run_study(cfg, "out/loc", workers=0)        # 0 = in-process; None = Ray
    report_study("out/loc")                                # tables again from the Parquet store

Qt-free: nothing here imports the viewer, the plugins or Qt.
"""

from training.study.config import MethodSpec, StudyConfig, list_presets, load_study, parse_study
from training.study.errors import ConfigProblem, StudyConfigError, StudyError
from training.study.pipeline import RunSummary, run_study
from training.study.report import report_study

__all__ = [
    "ConfigProblem",
    "MethodSpec",
    "RunSummary",
    "StudyConfig",
    "StudyConfigError",
    "StudyError",
    "list_presets",
    "load_study",
    "parse_study",
    "report_study",
    "run_study",
]
