"""The records clusters are fitted on or described for, preprocessed as the network was trained.

A :class:`SignalSet` yields one :class:`Signal` per record: the model input ``[12, n]`` after the
checkpoint's preprocessing, the present-lead mask and the labels. Records come from a manifest (a
split by folds or names) or from a list of record paths. With a manifest whose preprocessing cache
(``<manifest>.cache``, from ``leadattn cache`` or training) holds this preprocessing, signals are read
from the cache; otherwise each record is read and preprocessed. A record that cannot be read is
skipped and listed in :attr:`SignalSet.skipped`; iteration goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leadattn.data import (
    PreprocessConfig,
    RecordError,
    SignalCache,
    cache_is_current,
    default_cache_dir,
    manifest_data_dir,
    preprocess_record,
    read_manifest,
    read_record,
)
from leadattn.evaluation.evaluate import select_split


@dataclass(frozen=True)
class Signal:
    """One preprocessed record: ``x`` float32 ``[12, n]``, ``mask`` bool ``[12]``, ``labels`` ``[26]``."""

    name: str
    x: np.ndarray
    mask: np.ndarray
    labels: np.ndarray


@dataclass
class SignalSet:
    """Records to run the network on (see the module docstring); build with :meth:`from_manifest`
    or :meth:`from_records`."""

    names: list[str]
    paths: list[Path]
    config: PreprocessConfig
    cache: SignalCache | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def from_manifest(
        cls,
        manifest: str | Path,
        config: PreprocessConfig,
        folds: int | Sequence[int] | None = None,
        names: Sequence[str] | None = None,
        data_dir: str | Path | None = None,
    ) -> SignalSet:
        """The records of ``manifest`` in ``folds`` (or named in ``names``; default: all of them)."""
        frame = read_manifest(manifest)
        chosen, _ = select_split(frame, folds, names)
        root = Path(data_dir) if data_dir is not None else manifest_data_dir(manifest)
        cache_dir = default_cache_dir(manifest)
        cache = SignalCache(cache_dir) if cache_is_current(cache_dir, frame, config) else None
        return cls(list(chosen["name"]), [root / p for p in chosen["path"]], config, cache)

    @classmethod
    def from_records(cls, paths: Sequence[str | Path], config: PreprocessConfig) -> SignalSet:
        """Records given by their paths (``.hea``, ``.mat`` or the path without suffix)."""
        paths = [Path(p) for p in paths]
        if not paths:
            raise ValueError("no records given")
        names = [p.with_suffix("").name if p.suffix in (".hea", ".mat") else p.name for p in paths]
        return cls(names, paths, config)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[Signal]:
        self.skipped = []
        for name, path in zip(self.names, self.paths):
            if self.cache is not None and name in self.cache.names:
                i = self.cache.index_of(name)
                x = np.array(self.cache.signal(i), dtype=np.float32)
                yield Signal(name, x, self.cache.mask(i).astype(bool), self.cache.labels(i).astype(bool))
                continue
            try:
                record = read_record(path)
                x, mask = preprocess_record(record, self.config)
            except RecordError as error:
                self.skipped.append({"name": name, "kind": error.kind, "message": str(error)})
                continue
            yield Signal(name, x.astype(np.float32), mask, record.labels.astype(bool))


def batches(signals: Iterable[Signal], batch_size: int) -> Iterable[list[Signal]]:
    """Batches of signals of equal length and lead set (the network takes one length per batch)."""
    pending: dict[int, list[Signal]] = {}
    for signal in signals:
        group = pending.setdefault(signal.x.shape[1], [])
        group.append(signal)
        if len(group) == batch_size:
            yield pending.pop(signal.x.shape[1])
    yield from (group for group in pending.values() if group)
