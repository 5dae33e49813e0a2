"""Fitting a clustering of token vectors over many records, in bounded memory.

Records are run through the network in batches; the vectors of each batch (:mod:`tokens`) join a
uniform reservoir sample of at most ``max_vectors`` vectors over everything seen so far, and the
batch is dropped. The clustering is fitted on the reservoir, so memory is bounded by
``max_vectors x width x 4`` bytes (100,000 vectors of width 240: 92 MiB) plus one batch, whatever
the number of records: 50,000 records need no more than 2,000. Standardisation, the optional PCA and
the mixture are all fitted on the reservoir.

Per-lead clustering first subtracts each lead's mean token (exact, accumulated over every vector
seen): the network adds a learned lead embedding and every lead has its own typical waveform, so
without it the clusters mostly sort tokens by lead. Centred, they describe the state of a lead
relative to its usual self (a wave, a segment, an abnormal complex).

``K`` is given, or chosen by :func:`sweep_k`, which reports the BIC of a diagonal Gaussian mixture
and the silhouette (on a subsample) for each K of a range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from tqdm.auto import tqdm

from explain.clusters.model import METHODS, ClusterModel, model_digest
from explain.clusters.signals import Signal, batches
from explain.clusters.tokens import Source, check_view, resolve_blocks, token_batch, view_vectors
from explain.inputs import ModelLike, unwrap
from leadattn.leads import LEADS

NUM_LEADS = len(LEADS)

DEFAULT_MAX_VECTORS = 100_000


class Reservoir:
    """A uniform random sample of at most ``capacity`` rows of a stream (Vitter's algorithm R)."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"the reservoir needs room for at least one vector, got {capacity}")
        self.capacity = capacity
        self.seen = 0
        self.rows: np.ndarray | None = None
        self.tags = np.zeros(capacity, dtype=np.int16)
        self._filled = 0
        self._rng = np.random.default_rng(seed)

    def add(self, rows: np.ndarray, tags: np.ndarray | None = None) -> None:
        """Offer ``rows`` ``[n, d]`` (and an integer tag per row): each row of the stream ends up
        kept with equal probability."""
        rows = np.asarray(rows, dtype=np.float32)
        tags = np.zeros(len(rows), dtype=np.int16) if tags is None else np.asarray(tags, dtype=np.int16)
        if self.rows is None:
            self.rows = np.empty((self.capacity, rows.shape[1]), dtype=np.float32)
        free = min(self.capacity - self._filled, len(rows))
        self.rows[self._filled : self._filled + free] = rows[:free]
        self.tags[self._filled : self._filled + free] = tags[:free]
        self._filled += free
        if len(rows) > free:
            index = self.seen + free + np.arange(len(rows) - free)
            slots = (self._rng.random(len(index)) * (index + 1)).astype(np.int64)
            keep = slots < self.capacity
            self.rows[slots[keep]] = rows[free:][keep]
            self.tags[slots[keep]] = tags[free:][keep]
        self.seen += len(rows)

    @property
    def sample(self) -> np.ndarray:
        """The rows kept ``[min(seen, capacity), d]``."""
        if self.rows is None:
            raise ValueError("no vectors were collected")
        return self.rows[: self._filled]


@dataclass
class TokenSample:
    """Vectors collected from records for fitting: the reservoir and what was seen.

    ``leads`` is the lead slot of each vector and ``lead_means`` ``[12, width]`` the mean of every
    vector seen per lead (NaN for a lead never present); both None for the ``"timestamp"`` view.
    """

    vectors: np.ndarray
    blocks: tuple[Source, ...]
    view: str
    records: int
    vectors_seen: int
    skipped: list[dict[str, str]]
    leads: np.ndarray | None = None
    lead_means: np.ndarray | None = None


def collect_vectors(
    model: ModelLike,
    signals: Iterable[Signal],
    blocks: Sequence[Source] | None = None,
    view: str = "lead",
    max_vectors: int = DEFAULT_MAX_VECTORS,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = False,
) -> TokenSample:
    """A uniform sample of the token vectors of ``blocks`` over ``signals`` (see the module docstring)."""
    network, _ = unwrap(model)
    check_view(view)
    chosen = resolve_blocks(network, blocks)
    reservoir = Reservoir(max_vectors, seed)
    sums: np.ndarray | None = None
    counts = np.zeros(NUM_LEADS)
    records = 0
    total = len(signals) if hasattr(signals, "__len__") else None
    with tqdm(total=total, desc="token vectors", unit="rec", disable=not progress) as bar:
        for batch in batches(signals, batch_size):
            tokens = token_batch(
                network, np.stack([s.x for s in batch]), np.stack([s.mask for s in batch]), chosen
            )
            for vectors, leads in view_vectors(tokens, view):
                reservoir.add(vectors, leads)
                if leads is not None:
                    sums = np.zeros((NUM_LEADS, vectors.shape[1])) if sums is None else sums
                    np.add.at(sums, leads, vectors.astype(np.float64))
                    counts += np.bincount(leads, minlength=NUM_LEADS)
            records += len(batch)
            bar.update(len(batch))
    if records == 0:
        raise ValueError("no record could be read: nothing to fit clusters on")
    sample = TokenSample(
        reservoir.sample, chosen, view, records, reservoir.seen, list(getattr(signals, "skipped", []))
    )
    if view == "lead":
        sample.leads = reservoir.tags[: len(sample.vectors)].astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            sample.lead_means = sums / counts[:, None]
    return sample


def _scaling(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = vectors.mean(axis=0, dtype=np.float64)
    scale = vectors.std(axis=0, dtype=np.float64)
    return mean, np.where(scale > 1e-8, scale, 1.0)


def fit_sample(
    sample: TokenSample,
    k: int,
    digest: str,
    fs: float,
    method: str = "gmm",
    pca: int | None = 16,
    temperature: float | None = None,
    seed: int = 0,
    center_leads: bool = True,
) -> ClusterModel:
    """Fit a :class:`ClusterModel` of ``k`` clusters on collected vectors.

    ``center_leads`` (per-lead vectors only) subtracts each lead's mean token first (module docstring).
    ``pca`` keeps that many principal components of the standardised vectors (None: all features).
    ``temperature`` (soft k-means) defaults to the mean squared distance of the vectors to their
    nearest centre, so that a typical vector is about ``e`` times likelier in its own cluster than
    one standard spread further out.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    vectors = sample.vectors
    n, width = vectors.shape
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        raise ValueError(f"K must be an integer of at least 2, got {k!r}")
    if k > n:
        raise ValueError(f"K={k} is larger than the {n} token vectors collected; use fewer clusters")
    if pca is not None and not 1 <= pca <= width:
        raise ValueError(f"pca must keep between 1 and {width} components (the vector width), got {pca}")
    lead_means = np.zeros((0, width))
    if center_leads and sample.leads is not None and sample.lead_means is not None:
        lead_means = np.nan_to_num(sample.lead_means)
        vectors = vectors - lead_means[sample.leads]
    mean, scale = _scaling(vectors)
    z = (vectors - mean) / scale
    components = np.zeros((0, width))
    if pca is not None:
        projector = PCA(n_components=pca, random_state=seed).fit(z)
        components = projector.components_
        z = z @ components.T
    info = {
        "records": sample.records,
        "vectors_seen": sample.vectors_seen,
        "vectors_fitted": n,
        "pca": pca,
        "seed": seed,
        "skipped_records": len(sample.skipped),
    }
    if pca is not None:
        info["pca_explained_variance"] = float(projector.explained_variance_ratio_.sum())
    if method == "gmm":
        mixture = GaussianMixture(k, covariance_type="diag", reg_covar=1e-4, random_state=seed).fit(z)
        info.update(bic=float(mixture.bic(z)), mean_log_likelihood=float(mixture.score(z)))
        weights, means, variances, temp = mixture.weights_, mixture.means_, mixture.covariances_, 1.0
    else:
        kmeans = KMeans(k, n_init=3, random_state=seed).fit(z)
        means = kmeans.cluster_centers_
        weights = np.bincount(kmeans.labels_, minlength=k) / n
        variances = np.ones_like(means)
        temp = float(temperature) if temperature is not None else float(kmeans.inertia_ / n)
        if temp <= 0:
            raise ValueError(f"temperature must be positive, got {temp}")
        info["inertia"] = float(kmeans.inertia_)
    return ClusterModel(
        view=sample.view,
        blocks=sample.blocks,
        method=method,
        digest=digest,
        fs=fs,
        mean_=mean,
        scale_=scale,
        lead_means_=lead_means,
        components_=np.asarray(components, dtype=np.float64),
        weights_=np.asarray(weights, dtype=np.float64),
        means_=np.asarray(means, dtype=np.float64),
        variances_=np.asarray(variances, dtype=np.float64),
        temperature=temp,
        info=info,
    )


def fit_clusters(
    model: ModelLike,
    signals: Iterable[Signal],
    k: int,
    blocks: Sequence[Source] | None = None,
    view: str = "lead",
    method: str = "gmm",
    pca: int | None = 16,
    max_vectors: int = DEFAULT_MAX_VECTORS,
    batch_size: int = 32,
    seed: int = 0,
    center_leads: bool = True,
    progress: bool = False,
) -> ClusterModel:
    """Collect token vectors of ``blocks`` over ``signals`` and fit ``k`` clusters on them.

    ``model`` is a :class:`~leadattn.checkpoint.LoadedModel` or a bare network; ``signals`` usually a
    :class:`~explain.clusters.SignalSet`. ``blocks`` (block indices and stem layers ``"stem.i"``)
    defaults to the last stage's blocks.
    """
    network, config = unwrap(model)
    sample = collect_vectors(model, signals, blocks, view, max_vectors, batch_size, seed, progress)
    return fit_sample(
        sample, k, model_digest(network), float(config.fs), method, pca, seed=seed, center_leads=center_leads
    )


def sweep_k(
    sample: TokenSample,
    ks: Sequence[int],
    pca: int | None = 16,
    silhouette_size: int = 5000,
    seed: int = 0,
) -> pd.DataFrame:
    """BIC and silhouette of a diagonal Gaussian mixture for each K in ``ks`` (one row per K).

    The BIC is on the whole sample (lower is better); the silhouette (higher is better) on a random
    subsample of ``silhouette_size`` vectors, in the reduced space, of the hard assignments.
    """
    rows = []
    rng = np.random.default_rng(seed)
    for k in ks:
        fitted = fit_sample(sample, int(k), "", 0.0, "gmm", pca, seed=seed)
        z = fitted.reduce(sample.vectors, sample.leads)
        subset = rng.choice(len(z), min(silhouette_size, len(z)), replace=False)
        leads = None if sample.leads is None else sample.leads[subset]
        labels = fitted.responsibilities(sample.vectors[subset], leads).argmax(axis=1)
        silhouette = (
            float(silhouette_score(z[subset], labels, random_state=seed))
            if len(np.unique(labels)) > 1
            else float("nan")
        )
        rows.append({"k": int(k), "bic": fitted.info["bic"], "silhouette": silhouette})
    return pd.DataFrame(rows).set_index("k")


def best_k(sweep: pd.DataFrame) -> int:
    """The K of a sweep with the highest silhouette (ties: the smaller K)."""
    return int(sweep["silhouette"].idxmax())
