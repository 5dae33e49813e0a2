"""A memory-mapped cache of preprocessed signals, so that an epoch never re-reads ``.mat`` files.

Layout of a cache folder: ``signals.f32`` (all records' [12, n] blocks back to back, float32),
``index.npz`` (names, offsets, lengths, labels, lead masks, sources) and ``meta.json`` (format,
preprocessing parameters and a digest of the manifest). A cache whose preprocessing or manifest no
longer matches is rebuilt; a build writes into a temporary folder and renames it when complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadattn.data.manifest import read_manifest
from leadattn.data.parallel import progress_map
from leadattn.data.preprocess import PreprocessConfig, preprocess_record
from leadattn.data.records import RecordError, read_record
from leadattn.leads import LEADS

FORMAT_VERSION = 1


def _digest(manifest: pd.DataFrame) -> str:
    text = "\n".join(manifest["name"] + "|" + manifest["path"] + "|" + manifest["dx"].astype(str))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SignalCache:
    """Read-only view of a cache folder: per-record signals [12, n] as memory-mapped arrays."""

    def __init__(self, cache_dir: str | Path):
        self.path = Path(cache_dir)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.path} is not a leadattn cache (no meta.json)")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"cache {self.path} has format {self.meta.get('format_version')}, "
                f"expected {FORMAT_VERSION}: rebuild it"
            )
        self.config = PreprocessConfig.from_dict(self.meta["preprocess"])
        index = np.load(self.path / "index.npz")
        self.names: list[str] = index["names"].tolist()
        self.sources: list[str] = index["sources"].tolist()
        self.offsets = index["offsets"]
        self.lengths = index["lengths"]
        self.label_matrix = index["labels"]
        self.mask_matrix = index["masks"]
        total = int(self.offsets[-1] + self.lengths[-1] * len(LEADS)) if len(self.names) else 0
        self._data = (
            np.memmap(self.path / "signals.f32", dtype=np.float32, mode="r", shape=(total,))
            if total
            else np.zeros(0, np.float32)
        )
        self._positions = {name: i for i, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)

    def index_of(self, name: str) -> int:
        if name not in self._positions:
            raise KeyError(f"record {name!r} is not in cache {self.path}")
        return self._positions[name]

    def signal(self, i: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Preprocessed signal [12, n] of record ``i`` (or samples start:stop of it), memory-mapped."""
        n = int(self.lengths[i])
        block = self._data[int(self.offsets[i]) : int(self.offsets[i]) + n * len(LEADS)]
        return block.reshape(len(LEADS), n)[:, start:stop]

    def labels(self, i: int) -> np.ndarray:
        return self.label_matrix[i]

    def mask(self, i: int) -> np.ndarray:
        return self.mask_matrix[i]


@dataclass(frozen=True)
class _Job:
    path: Path
    config: PreprocessConfig


def _preprocess_one(job: _Job) -> tuple[np.ndarray, np.ndarray, np.ndarray] | RecordError:
    try:
        record = read_record(job.path)
        x, mask = preprocess_record(record, job.config)
        return x, mask, record.labels
    except RecordError as error:
        return error


def cache_is_current(cache_dir: str | Path, manifest: pd.DataFrame, config: PreprocessConfig) -> bool:
    """Whether ``cache_dir`` holds this manifest preprocessed with this configuration."""
    meta_path = Path(cache_dir) / "meta.json"
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    return (
        meta.get("format_version") == FORMAT_VERSION
        and meta.get("manifest_digest") == _digest(manifest)
        and PreprocessConfig.from_dict(meta["preprocess"]) == config
    )


def build_cache(
    manifest: str | Path | pd.DataFrame,
    data_dir: str | Path,
    cache_dir: str | Path,
    config: PreprocessConfig = PreprocessConfig(),
    workers: int | None = None,
    rebuild: bool = False,
) -> SignalCache:
    """Preprocess every record of a manifest into ``cache_dir`` (reused when already current).

    Records that fail to read are skipped and listed in ``meta.json`` under ``skipped``.
    """
    frame = read_manifest(manifest) if not isinstance(manifest, pd.DataFrame) else manifest
    cache_dir = Path(cache_dir)
    if not rebuild and cache_is_current(cache_dir, frame, config):
        return SignalCache(cache_dir)
    tmp = cache_dir.with_name(cache_dir.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    jobs = [_Job(Path(data_dir) / p, config) for p in frame["path"]]
    names, sources, offsets, lengths, labels, masks, skipped = [], [], [], [], [], [], []
    offset = 0
    with open(tmp / "signals.f32", "wb") as out:
        results = progress_map(_preprocess_one, jobs, len(jobs), "cache", workers)
        for (name, source), result in zip(zip(frame["name"], frame["source"]), results):
            if isinstance(result, RecordError):
                skipped.append({"name": name, "kind": result.kind, "message": str(result)})
                continue
            x, mask, label = result
            out.write(np.ascontiguousarray(x, dtype=np.float32).tobytes())
            names.append(name)
            sources.append(source)
            offsets.append(offset)
            lengths.append(x.shape[1])
            labels.append(label)
            masks.append(mask)
            offset += x.size
    np.savez(
        tmp / "index.npz",
        names=np.array(names, dtype=str),
        sources=np.array(sources, dtype=str),
        offsets=np.array(offsets, dtype=np.int64),
        lengths=np.array(lengths, dtype=np.int64),
        labels=np.array(labels, dtype=bool).reshape(-1, 26),
        masks=np.array(masks, dtype=bool).reshape(-1, len(LEADS)),
    )
    meta = {
        "format_version": FORMAT_VERSION,
        "preprocess": config.to_dict(),
        "manifest_digest": _digest(frame),
        "records": len(names),
        "skipped": skipped,
        "skipped_by_kind": dict(Counter(s["kind"] for s in skipped)),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    if cache_dir.exists():
        shutil.rmtree(cache_dir)
    tmp.rename(cache_dir)
    return SignalCache(cache_dir)
