"""A random forest on cluster proportions as a surrogate of the network.

One forest per class is trained to reproduce the network's *predicted* labels (its probabilities at the
checkpoint's thresholds) from the cluster proportions alone, and scored out of sample: how often it
agrees with the network, class by class, and how well its probabilities rank the *true* labels
(AUROC, :mod:`leadattn.metrics`) next to the network's own. High agreement means the proportions
carry what the network uses to decide.

What the forests are trained on (``target``):

* ``"predictions"`` (the paper's surrogate): a classification forest per class on the network's
  binary outputs; the forest says yes where at least half its trees do.
* ``"probabilities"``: a regression forest per class on the network's probabilities, so that it also
  learns how sure the network is; it says yes where its estimate reaches the network's threshold.
  Still a surrogate: it never sees a true label.
* ``"labels"``: a classification forest per class on the *true* labels. Not a surrogate but a
  reference: how much of the diagnosis the proportions hold on their own.

Per-class agreement is the share of records where forest and network give the same binary output.
Classes that the network never predicts on the scored records are trivially agreed on; the summary
gives the mean over all classes and over the classes the network predicts at least once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import KFold

from leadattn.labels import ABBREVIATIONS
from leadattn.metrics import accuracy, auroc_auprc, f_measure

TARGETS = ("predictions", "probabilities", "labels")


@dataclass
class SurrogateResult:
    """Scores of a surrogate forest.

    Attributes:
        table: One row per class: positives, network predictions, agreement, AUROC and F-measure of
            forest and network on the true labels.
        summary: Means over classes and whole-record figures (see :func:`surrogate`).
        probabilities: The forest's out-of-sample probabilities ``[scored records, classes]``.
        scored: Indices of the records scored.
    """

    table: pd.DataFrame
    summary: dict[str, float]
    probabilities: np.ndarray
    scored: np.ndarray


def _fit_predict(
    x: np.ndarray, y: np.ndarray, held_out: np.ndarray, n_estimators: int, seed: int, n_jobs: int | None
) -> np.ndarray:
    """One forest per class (classes do not share trees): classification forests for binary ``y``,
    regression forests otherwise; a class constant in training stays constant."""
    out = np.empty((len(held_out), y.shape[1]))
    for c in range(y.shape[1]):
        if y[:, c].min() == y[:, c].max():
            out[:, c] = float(y[0, c])
        elif y.dtype == bool:
            forest = RandomForestClassifier(n_estimators, random_state=seed, n_jobs=n_jobs)
            out[:, c] = forest.fit(x, y[:, c]).predict_proba(held_out)[:, 1]
        else:
            forest = RandomForestRegressor(n_estimators, random_state=seed, n_jobs=n_jobs)
            out[:, c] = forest.fit(x, y[:, c]).predict(held_out)
    return out


def surrogate(
    features: np.ndarray,
    network_probabilities: np.ndarray,
    thresholds: np.ndarray,
    labels: np.ndarray,
    test: np.ndarray | None = None,
    folds: int = 5,
    n_estimators: int = 200,
    seed: int = 0,
    n_jobs: int | None = None,
    target: str = "predictions",
) -> SurrogateResult:
    """Train and score a surrogate forest on ``features`` ``[records, f]`` (cluster proportions).

    ``target``: what the forests learn, :data:`TARGETS` (module docstring). With ``test`` (bool
    ``[records]``), the forest is trained on the other records and scored on these; otherwise
    ``folds``-fold cross-validation scores every record out of fold. Summary keys:
    ``agreement`` (mean over classes), ``agreement_predicted_classes`` (over classes the network
    predicts on the scored records), ``exact_agreement`` (records whose whole output vector agrees),
    ``auroc`` / ``network_auroc``, ``f_measure`` / ``network_f_measure``, ``accuracy`` /
    ``network_accuracy`` and ``records``.
    """
    features = np.asarray(features, dtype=np.float64)
    probabilities = np.asarray(network_probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    n = len(features)
    if features.ndim != 2 or probabilities.shape[0] != n or labels.shape != probabilities.shape:
        raise ValueError(
            f"features {features.shape}, probabilities {probabilities.shape} and labels {labels.shape} "
            "must describe the same records"
        )
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    cuts = np.asarray(thresholds, dtype=np.float64)[None, :]
    predicted = probabilities >= cuts
    learned = {"predictions": predicted, "probabilities": probabilities, "labels": labels}[target]
    forest_proba = np.full(probabilities.shape, np.nan)
    if test is not None:
        test = np.asarray(test, dtype=bool)
        if test.shape != (n,) or test.all() or not test.any():
            raise ValueError("test must mark some, not all, of the records")
        splits = [(np.flatnonzero(~test), np.flatnonzero(test))]
    else:
        if not 2 <= folds <= n:
            raise ValueError(f"folds must lie between 2 and the {n} records, got {folds}")
        splits = list(KFold(folds, shuffle=True, random_state=seed).split(features))
    for train, held_out in splits:
        forest_proba[held_out] = _fit_predict(
            features[train], learned[train], features[held_out], n_estimators, seed, n_jobs
        )
    scored = np.flatnonzero(np.isfinite(forest_proba[:, 0]))
    proba, net = forest_proba[scored], probabilities[scored]
    net_bin, truth = predicted[scored], labels[scored]
    forest_bin = proba >= (cuts if target == "probabilities" else 0.5)
    agree = (forest_bin == net_bin).mean(axis=0)
    auroc, _, auroc_k, _ = auroc_auprc(truth, proba)
    net_auroc, _, net_auroc_k, _ = auroc_auprc(truth, net)
    f, f_k = f_measure(truth, forest_bin)
    net_f, net_f_k = f_measure(truth, net_bin)
    table = pd.DataFrame(
        {
            "positives": truth.sum(axis=0),
            "network_predicted": net_bin.sum(axis=0),
            "agreement": agree,
            "auroc": auroc_k,
            "network_auroc": net_auroc_k,
            "f_measure": f_k,
            "network_f_measure": net_f_k,
        },
        index=pd.Index(ABBREVIATIONS, name="class"),
    )
    active = net_bin.any(axis=0)
    summary = {
        "records": float(len(scored)),
        "agreement": float(agree.mean()),
        "agreement_predicted_classes": float(agree[active].mean()) if active.any() else float("nan"),
        "exact_agreement": float(np.all(forest_bin == net_bin, axis=1).mean()),
        "auroc": auroc,
        "network_auroc": net_auroc,
        "f_measure": f,
        "network_f_measure": net_f,
        "accuracy": accuracy(truth, forest_bin),
        "network_accuracy": accuracy(truth, net_bin),
    }
    return SurrogateResult(table, summary, proba, scored)
