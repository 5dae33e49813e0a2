"""Ordered parallel map with a progress bar, shared by the manifest scan and the cache build."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def progress_map(
    func: Callable[[T], R], items: Iterable[T], total: int, desc: str, workers: int | None = None
) -> Iterator[R]:
    """Yield ``func(item)`` in input order, over ``workers`` processes (1: in this process)."""
    workers = default_workers() if workers is None else max(1, workers)
    bar = tqdm(total=total, desc=desc, unit="rec", dynamic_ncols=True)
    try:
        if workers == 1 or total < 2:
            for item in items:
                yield func(item)
                bar.update()
            return
        with ProcessPoolExecutor(workers) as pool:
            for result in pool.map(func, items, chunksize=max(1, min(64, total // (workers * 8)))):
                yield result
                bar.update()
    finally:
        bar.close()
