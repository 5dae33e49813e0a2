"""Explanations of leadattn models: attention and attribution maps per lead, figures and checks.

Maps are pandas DataFrames with one column per lead of the record (named as in ``record.leads``),
one row per sample of the record and a time index in seconds, the format pmecg draws.

* One class per method, each with one verb, ``explain(record, target)``: :class:`AttentionExplainer`
  (where the network's attention mass goes) and the Captum attributions
  :class:`IntegratedGradientsExplainer`, :class:`SaliencyExplainer`, :class:`GradientShapExplainer`,
  :class:`OcclusionExplainer`, :class:`FeatureAblationExplainer`, :class:`DeepLiftExplainer`,
  :class:`GradCamExplainer`; all registered by name in :data:`EXPLAINERS` (:func:`make_explainer`).
* :func:`attribution_classes` - one frame per predicted (or given) class; :func:`lead_importance` -
  records x leads shares of attribution.
* :func:`normalise` - scaling, polarity and smoothing for display and comparison.
* :func:`plot` / :func:`save_figure` - ECG-paper figures through pmecg (optional ``plot`` extra).
* :func:`export_record` - everything for one record written to a folder (``leadattn-explain``).
* :func:`faithfulness` - deletion and insertion curves and, on demo records, localisation of the
  known features; :func:`faithfulness_table` summarises methods x metrics.
"""

from explain.attention import AttentionExplainer
from explain.attribution import (
    CONVERGENCE_BOUND,
    CaptumExplainer,
    ConvergenceWarning,
    DeepLiftExplainer,
    FeatureAblationExplainer,
    GradCamExplainer,
    GradientShapExplainer,
    IntegratedGradientsExplainer,
    OcclusionExplainer,
    SaliencyExplainer,
    attribution_classes,
    lead_importance,
)
from explain.baselines import BaselineProvider, LowPassBaseline, SinusRhythmBaseline, ZeroBaseline
from explain.explainer import EXPLAINERS, Explainer, make_explainer, make_explainers
from explain.export import ExportResult, export_record
from explain.faithfulness import faithfulness, faithfulness_table, readme_table
from explain.frames import TIME_INDEX, check_frame
from explain.inputs import ExplainInput, prepare_input
from explain.normalise import EmptyMapError, infer_polarity, normalise
from explain.plotting import PlotUnavailableError, Sheet, plot, save_figure

__all__ = [
    "CONVERGENCE_BOUND",
    "EXPLAINERS",
    "TIME_INDEX",
    "AttentionExplainer",
    "BaselineProvider",
    "CaptumExplainer",
    "ConvergenceWarning",
    "DeepLiftExplainer",
    "EmptyMapError",
    "ExplainInput",
    "Explainer",
    "ExportResult",
    "FeatureAblationExplainer",
    "GradCamExplainer",
    "GradientShapExplainer",
    "IntegratedGradientsExplainer",
    "LowPassBaseline",
    "OcclusionExplainer",
    "PlotUnavailableError",
    "SaliencyExplainer",
    "SinusRhythmBaseline",
    "ZeroBaseline",
    "attribution_classes",
    "check_frame",
    "export_record",
    "faithfulness",
    "faithfulness_table",
    "infer_polarity",
    "lead_importance",
    "make_explainer",
    "make_explainers",
    "normalise",
    "plot",
    "prepare_input",
    "readme_table",
    "save_figure",
    "Sheet",
]
