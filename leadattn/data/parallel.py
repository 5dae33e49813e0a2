"""Ordered parallel map with a progress bar, shared by the manifest scan and the cache build."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def progress_map(
    func: Callable[[T], R],
    items: Sequence[T],
    total: int,
    desc: str,
    workers: int | None = None,
    sizes: Sequence[int] | None = None,
) -> Iterator[R]:
    """Yield ``func(item)`` in input order, over ``workers`` processes (1: in this process).

    ``total`` records in all; ``sizes`` gives the records each item holds when items are batches.
    """
    workers = default_workers() if workers is None else max(1, workers)
    sizes = sizes if sizes is not None else [1] * len(items)
    bar = tqdm(total=total, desc=desc, unit="rec", dynamic_ncols=True)
    try:
        if workers == 1 or len(items) < 2:
            for item, size in zip(items, sizes):
                yield func(item)
                bar.update(size)
            return
        chunksize = max(1, min(64, len(items) // (workers * 8)))
        with ProcessPoolExecutor(workers) as pool:
            for result, size in zip(pool.map(func, items, chunksize=chunksize), sizes):
                yield result
                bar.update(size)
    finally:
        bar.close()
