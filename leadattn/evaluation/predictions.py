"""The predictions table: one row per record and lead subset with labels, scores and binary outputs.

Columns: ``name``, ``source``, ``subset`` (a subset size such as ``12``, or lead names joined by
spaces), then ``label_<class>``, ``score_<class>`` and ``output_<class>`` for the 26 classes in
challenge order, named by abbreviation (``score_AF`` ...). The table holds everything needed to
score again with other thresholds or to export challenge output files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from leadattn.labels import ABBREVIATIONS, NUM_CLASSES
from leadattn.leads import LEAD_SUBSETS, resolve_leads

LABEL_COLUMNS = tuple(f"label_{a}" for a in ABBREVIATIONS)
SCORE_COLUMNS = tuple(f"score_{a}" for a in ABBREVIATIONS)
OUTPUT_COLUMNS = tuple(f"output_{a}" for a in ABBREVIATIONS)
ID_COLUMNS = ("name", "source", "subset")


def subset_name(leads: int | str | Sequence[str] | None) -> str:
    """Stable name of a lead subset: its size when it is a challenge subset, else its leads."""
    resolved = resolve_leads(leads)
    for size, names in LEAD_SUBSETS.items():
        if names == resolved:
            return str(size)
    return " ".join(resolved)


def predictions_frame(
    names: Sequence[str],
    sources: Sequence[str],
    subsets: Sequence[str],
    labels: np.ndarray,
    scores: np.ndarray,
    outputs: np.ndarray,
) -> pd.DataFrame:
    """Assemble the table from per-row identifiers and [rows, 26] arrays."""
    rows = len(names)
    for name, array in (("labels", labels), ("scores", scores), ("outputs", outputs)):
        if np.shape(array) != (rows, NUM_CLASSES):
            raise ValueError(f"{name} has shape {np.shape(array)}, expected ({rows}, {NUM_CLASSES})")
    frame = pd.DataFrame({"name": list(names), "source": list(sources), "subset": list(subsets)})
    parts = [
        frame,
        pd.DataFrame(np.asarray(labels, dtype=int), columns=list(LABEL_COLUMNS)),
        pd.DataFrame(np.asarray(scores, dtype=np.float64), columns=list(SCORE_COLUMNS)),
        pd.DataFrame(np.asarray(outputs, dtype=int), columns=list(OUTPUT_COLUMNS)),
    ]
    return pd.concat(parts, axis=1)


def prediction_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (bool), scores (float64) and outputs (bool), each [rows, 26], of a predictions table."""
    missing = [c for c in (*ID_COLUMNS, *LABEL_COLUMNS, *SCORE_COLUMNS, *OUTPUT_COLUMNS) if c not in frame]
    if missing:
        raise ValueError(f"predictions table lacks column(s) {', '.join(missing[:5])}")
    return (
        frame[list(LABEL_COLUMNS)].to_numpy().astype(bool),
        frame[list(SCORE_COLUMNS)].to_numpy(dtype=np.float64),
        frame[list(OUTPUT_COLUMNS)].to_numpy().astype(bool),
    )


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a ``predictions.csv`` written by ``leadattn evaluate``, checking its columns."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file {path} does not exist")
    frame = pd.read_csv(path, dtype={"name": str, "source": str, "subset": str})
    try:
        prediction_arrays(frame)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return frame
