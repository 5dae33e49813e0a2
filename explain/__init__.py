"""Explanations of leadattn models: attention and attribution maps per lead, figures and checks.

Maps are pandas DataFrames with one column per lead of the record (named as in ``record.leads``),
one row per sample of the record and a time index in seconds, the format pmecg draws.

* :func:`attention_frame` - where the network's attention mass goes (per block, mean, rollout).
* :func:`attribution_frame` / :func:`attribution_frames` - Captum attributions for one class or
  every predicted class; :func:`lead_importance` - records x leads shares of attribution.
* :func:`normalise` - scaling, polarity and smoothing for display and comparison.
* :func:`plot` / :func:`save_figure` - ECG-paper figures through pmecg (optional ``plot`` extra).
* :func:`export_record` - everything for one record written to a folder (``leadattn-explain``).
* :func:`faithfulness` - deletion and insertion curves and, on demo records, localisation of the
  known features; :func:`faithfulness_table` summarises methods x metrics.
"""

from explain.attention import attention_frame, attention_map
from explain.attribution import (
    METHODS,
    attribution_frame,
    attribution_frames,
    attribution_map,
    lead_importance,
)
from explain.baselines import BaselineProvider, LowPassBaseline, SinusRhythmBaseline, ZeroBaseline
from explain.export import ExportResult, export_record
from explain.faithfulness import faithfulness, faithfulness_table, readme_table
from explain.frames import TIME_INDEX, check_frame
from explain.inputs import ExplainInput, prepare_input
from explain.normalise import EmptyMapError, infer_polarity, normalise
from explain.plotting import PlotUnavailableError, plot, save_figure

__all__ = [
    "METHODS",
    "TIME_INDEX",
    "BaselineProvider",
    "EmptyMapError",
    "ExplainInput",
    "ExportResult",
    "LowPassBaseline",
    "PlotUnavailableError",
    "SinusRhythmBaseline",
    "ZeroBaseline",
    "attention_frame",
    "attention_map",
    "attribution_frame",
    "attribution_frames",
    "attribution_map",
    "check_frame",
    "export_record",
    "faithfulness",
    "faithfulness_table",
    "infer_polarity",
    "lead_importance",
    "normalise",
    "plot",
    "prepare_input",
    "readme_table",
    "save_figure",
]
