"""A fitted clustering of token vectors: soft assignments, saved as plain arrays plus JSON.

Per-lead vectors first have their lead's mean token subtracted (``lead_means_``, see
:mod:`explain.clusters.fit`); vectors are then standardised per feature (``mean_``, ``scale_``),
optionally projected on principal components (``components_``), then assigned softly to ``K``
clusters:

* ``"gmm"``: a Gaussian mixture with diagonal covariances; the responsibilities are the posterior
  probabilities of the components.
* ``"kmeans"``: soft k-means; responsibilities are ``softmax(-d^2 / temperature)`` of the squared
  distances to the centres.

The file (``.npz``, no pickled objects) holds the arrays and a JSON header with the view, blocks,
method, cluster names and the digest of the network it was fitted on: applying it to another
network is an error, since its clusters describe that network's representations only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from leadattn.errors import LeadattnError

FORMAT_VERSION = 1
METHODS = ("gmm", "kmeans")
_ARRAYS = ("mean_", "scale_", "components_", "weights_", "means_", "variances_", "lead_means_")


class ClusterFileError(LeadattnError, ValueError):
    """A cluster file that is missing, damaged, or belongs to another network."""


def model_digest(model: nn.Module) -> str:
    """SHA-256 of a network's weights (names, dtypes, shapes and bytes of its state, in order).

    The same weights give the same digest whatever file they were loaded from.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


@dataclass
class ClusterModel:
    """A fitted clustering (see the module docstring). Arrays end in ``_``; the rest is metadata.

    Attributes:
        view: ``"lead"`` or ``"timestamp"`` (:mod:`explain.clusters.tokens`).
        blocks: Token sources whose outputs are clustered: block indices and stem layers ``"stem.i"``
            (:mod:`explain.clusters.tokens`).
        method: ``"gmm"`` or ``"kmeans"``.
        digest: :func:`model_digest` of the network the clustering was fitted on.
        fs: The network's sampling rate (its preprocessing).
        temperature: Soft k-means temperature (unused by ``"gmm"``).
        names: A readable name per cluster (``"QRS 84 %"``), or ``"cluster k"``.
        info: Fitting details: records, vectors seen and kept, seed, log-likelihood...
    """

    view: str
    blocks: tuple[int | str, ...]
    method: str
    digest: str
    fs: float
    mean_: np.ndarray
    scale_: np.ndarray
    components_: np.ndarray
    weights_: np.ndarray
    means_: np.ndarray
    variances_: np.ndarray
    lead_means_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    temperature: float = 1.0
    names: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not self.names:
            self.names = [f"cluster {k}" for k in range(self.k)]
        if len(self.names) != self.k:
            raise ValueError(f"{len(self.names)} cluster names for {self.k} clusters")

    @property
    def k(self) -> int:
        """Number of clusters."""
        return int(self.weights_.shape[0])

    @property
    def dim(self) -> int:
        """Width of the token vectors the clustering takes."""
        return int(self.mean_.shape[0])

    def reduce(self, vectors: np.ndarray, leads: np.ndarray | None = None) -> np.ndarray:
        """Centred, standardised (and projected, when fitted with PCA) vectors ``[n, d]``.

        ``leads`` (the lead slot of each vector) is needed when the clustering centres each lead.
        """
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(
                f"vectors of width {vectors.shape[-1]} given; the clustering takes width {self.dim} "
                f"(blocks {list(self.blocks)})"
            )
        if self.lead_means_.size:
            if leads is None:
                raise ValueError("this clustering centres each lead: give the lead slot of every vector")
            vectors = vectors - self.lead_means_[np.asarray(leads)]
        z = (vectors - self.mean_) / self.scale_
        return z @ self.components_.T if self.components_.size else z

    def responsibilities(self, vectors: np.ndarray, leads: np.ndarray | None = None) -> np.ndarray:
        """Soft assignments ``[n, K]`` of ``vectors`` ``[n, dim]``; rows sum to 1."""
        z = self.reduce(vectors, leads)
        if self.method == "gmm":
            precision = 1.0 / self.variances_
            log_det = np.log(self.variances_).sum(axis=1)
            quad = (z**2) @ precision.T - 2.0 * z @ (self.means_ * precision).T
            quad += (self.means_**2 * precision).sum(axis=1)
            logits = np.log(self.weights_) - 0.5 * (quad + log_det + z.shape[1] * np.log(2 * np.pi))
        else:
            distances = (z**2).sum(axis=1, keepdims=True) - 2.0 * z @ self.means_.T
            distances += (self.means_**2).sum(axis=1)
            logits = -distances / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        out = np.exp(logits)
        return out / out.sum(axis=1, keepdims=True)

    def with_names(self, names: list[str]) -> ClusterModel:
        """A copy with other cluster names."""
        return replace(self, names=list(names))

    def check_network(self, model: nn.Module, source: str = "the cluster file") -> None:
        """Raise :class:`ClusterFileError` unless ``model`` is the network this was fitted on."""
        found = model_digest(model)
        if found != self.digest:
            raise ClusterFileError(
                f"{source} was fitted on another network (weights digest {self.digest[:12]}), "
                f"not this one ({found[:12]}): fit clusters for this checkpoint"
            )

    def save(self, path: str | Path) -> Path:
        """Write the clustering to ``path`` (``.npz``: arrays and a JSON header, no pickle)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format_version": FORMAT_VERSION,
            "view": self.view,
            "blocks": list(self.blocks),
            "method": self.method,
            "digest": self.digest,
            "fs": self.fs,
            "temperature": self.temperature,
            "names": self.names,
            "info": self.info,
        }
        tmp = path.with_name(f".{path.name}.tmp.npz")
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        np.savez(tmp, header=np.array(json.dumps(header)), **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ClusterModel:
        """Read a file written by :meth:`save`; raises :class:`ClusterFileError` naming the file."""
        path = Path(path)
        if not path.is_file():
            raise ClusterFileError(f"cluster file {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                arrays = {name: np.asarray(data[name], dtype=np.float64) for name in _ARRAYS}
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            raise ClusterFileError(
                f"cluster file {path} cannot be read ({type(error).__name__}: {error})"
            ) from None
        if header.get("format_version") != FORMAT_VERSION:
            raise ClusterFileError(
                f"cluster file {path} has format {header.get('format_version')}, expected {FORMAT_VERSION}"
            )
        try:
            return cls(
                view=header["view"],
                blocks=tuple(b if isinstance(b, str) else int(b) for b in header["blocks"]),
                method=header["method"],
                digest=header["digest"],
                fs=float(header["fs"]),
                temperature=float(header["temperature"]),
                names=list(header["names"]),
                info=dict(header["info"]),
                **arrays,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ClusterFileError(f"cluster file {path} is incomplete or inconsistent: {error}") from None
