"""A memory-mapped cache of preprocessed signals, so that an epoch never re-reads ``.mat`` files.

Layout of a cache folder: ``signals.f32`` (every record's [12, n] block, float32, at an offset fixed
by the manifest's lengths, so that worker processes write their records in place; a record that fails
leaves its block unused), ``index.npz`` (names, offsets, lengths, labels, lead masks, sources) and
``meta.json`` (format, preprocessing parameters and a digest of the manifest). A cache whose
preprocessing or manifest no longer matches is rebuilt; a build writes into a temporary folder and
renames it when complete. Workers take records in batches of 32 (see :func:`preprocess_records`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadattn.data.manifest import read_manifest
from leadattn.data.parallel import progress_map
from leadattn.data.preprocess import PreprocessConfig, output_length, preprocess_records
from leadattn.data.records import Record, RecordError, read_record
from leadattn.leads import LEADS

FORMAT_VERSION = 3  # 2: flat leads masked absent; records at offsets fixed by the manifest; 3: FFT filtering
_BATCH = 32  # records per worker task: fewer, larger filter calls and less inter-process traffic


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
class _Batch:
    """Records that one worker task preprocesses and writes into the cache file at their offsets."""

    paths: tuple[Path, ...]
    offsets: tuple[int, ...]
    lengths: tuple[int, ...]
    signals: Path
    config: PreprocessConfig


def _preprocess_batch(batch: _Batch) -> list[tuple[np.ndarray, np.ndarray] | RecordError]:
    """Read, preprocess and write a batch; return each record's (mask, labels) or its error."""
    records: list[Record] = []
    results: list[tuple[np.ndarray, np.ndarray] | RecordError | None] = [None] * len(batch.paths)
    for i, path in enumerate(batch.paths):
        try:
            records.append(read_record(path))
        except RecordError as error:
            results[i] = error
    positions = [i for i, r in enumerate(results) if r is None]
    outputs = preprocess_records(records, batch.config)
    with open(batch.signals, "r+b") as signals:
        for i, record, result in zip(positions, records, outputs):
            if isinstance(result, RecordError):
                results[i] = result
                continue
            x, mask = result
            if x.shape[1] != batch.lengths[i]:
                expected = batch.lengths[i]
                message = (
                    f"gives {x.shape[1]} samples where its manifest row gives {expected}: re-run prepare"
                )
                results[i] = RecordError(record.name, "shape_mismatch", message)
                continue
            os.pwrite(signals.fileno(), memoryview(x), batch.offsets[i] * 4)  # x: C-contiguous
            results[i] = (mask, record.labels)
    return results


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
    lengths = np.array(
        [output_length(int(n), float(fs), config) for n, fs in zip(frame["samples"], frame["fs"])],
        dtype=np.int64,
    )
    starts = np.concatenate([[0], np.cumsum(lengths * len(LEADS))[:-1]]).astype(np.int64)
    with open(tmp / "signals.f32", "wb") as out:
        out.truncate(int(lengths.sum()) * len(LEADS) * 4)
    paths = [Path(data_dir) / p for p in frame["path"]]
    batches = [
        _Batch(
            tuple(paths[i : i + _BATCH]),
            tuple(int(v) for v in starts[i : i + _BATCH]),
            tuple(int(v) for v in lengths[i : i + _BATCH]),
            tmp / "signals.f32",
            config,
        )
        for i in range(0, len(paths), _BATCH)
    ]
    sizes = [len(b.paths) for b in batches]
    results = (
        r for rs in progress_map(_preprocess_batch, batches, len(paths), "cache", workers, sizes) for r in rs
    )
    names, sources, offsets, kept_lengths, labels, masks, skipped = [], [], [], [], [], [], []
    for name, source, start, length, result in zip(frame["name"], frame["source"], starts, lengths, results):
        if isinstance(result, RecordError):
            skipped.append({"name": name, "kind": result.kind, "message": str(result)})
            continue
        mask, label = result
        names.append(name)
        sources.append(source)
        offsets.append(start)
        kept_lengths.append(length)
        labels.append(label)
        masks.append(mask)
    np.savez(
        tmp / "index.npz",
        names=np.array(names, dtype=str),
        sources=np.array(sources, dtype=str),
        offsets=np.array(offsets, dtype=np.int64),
        lengths=np.array(kept_lengths, dtype=np.int64),
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


def default_cache_dir(manifest: str | Path) -> Path:
    """``<manifest folder>/<manifest stem>.cache``: one cache per manifest, beside it."""
    manifest = Path(manifest)
    return manifest.with_name(f"{manifest.stem}.cache")
