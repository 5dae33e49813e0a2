"""Evaluating checkpoints: predictions over manifest splits, challenge metrics, reports, challenge files."""

from leadattn.evaluation.challenge_format import (
    ChallengeOutput,
    OutputSet,
    export_outputs,
    load_output_dir,
    read_label_file,
    read_outputs,
    score_outputs,
    write_outputs,
)
from leadattn.evaluation.evaluate import (
    DEFAULT_SUBSETS,
    check_checkpoint,
    evaluate,
    read_record_names,
    read_thresholds,
    select_split,
)
from leadattn.evaluation.predictions import (
    prediction_arrays,
    predictions_frame,
    read_predictions,
    subset_name,
)
from leadattn.evaluation.report import Report, SubsetResult, summarise

__all__ = [
    "DEFAULT_SUBSETS",
    "ChallengeOutput",
    "OutputSet",
    "Report",
    "SubsetResult",
    "check_checkpoint",
    "evaluate",
    "export_outputs",
    "load_output_dir",
    "prediction_arrays",
    "predictions_frame",
    "read_label_file",
    "read_outputs",
    "read_predictions",
    "read_record_names",
    "read_thresholds",
    "score_outputs",
    "select_split",
    "subset_name",
    "summarise",
    "write_outputs",
]
