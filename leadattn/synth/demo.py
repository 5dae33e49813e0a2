"""The demo data set: generated on first use into a cache folder, then reused.

The folder is ``$LEADATTN_HOME/demo/<n>_<seed>`` (else ``$XDG_CACHE_HOME/leadattn`` or
``~/.cache/leadattn``). Records are written into a temporary sibling folder, a marker file is added
when all are written, and the folder is renamed into place in one step, so an interrupted run never
leaves a half-written data set where a complete one is expected. A data set written by another
version of the generator is regenerated.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from leadattn.data import default_cache_dir, prepare
from leadattn.synth.generator import generate_dataset

DEMO_RECORDS = 2000
DEMO_SEED = 2021
GENERATOR_VERSION = 3
"""Bumped whenever generated records change, so cached demo sets are regenerated."""

MARKER = "COMPLETE.json"
_TEMP_PREFIX = ".partial-"


def cache_root() -> Path:
    """Where leadattn keeps generated data: ``$LEADATTN_HOME``, ``$XDG_CACHE_HOME/leadattn`` or
    ``~/.cache/leadattn``."""
    if os.environ.get("LEADATTN_HOME"):
        return Path(os.environ["LEADATTN_HOME"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "leadattn"
    return Path.home() / ".cache" / "leadattn"


def demo_data_dir(root: str | Path | None = None, n: int = DEMO_RECORDS, seed: int = DEMO_SEED) -> Path:
    """The folder of the demo set with ``n`` records and ``seed`` (it may not exist yet)."""
    return Path(root if root is not None else cache_root()) / "demo" / f"{n}_{seed}"


def _is_complete(folder: Path, n: int, seed: int) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker == _marker(n, seed)


def _marker(n: int, seed: int) -> dict[str, int]:
    return {"records": n, "seed": seed, "generator_version": GENERATOR_VERSION}


def _remove_abandoned(parent: Path) -> None:
    """Delete temporary folders left by runs whose process has ended."""
    for folder in parent.glob(f"{_TEMP_PREFIX}*"):
        try:
            pid = int(folder.name.split("-")[1])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # a live process of another user
            continue


def ensure_demo_data(
    root: str | Path | None = None,
    n: int = DEMO_RECORDS,
    seed: int = DEMO_SEED,
    workers: int | None = None,
) -> Path:
    """Return the demo set's folder, generating it first if it is missing, incomplete or stale."""
    target = demo_data_dir(root, n, seed)
    if _is_complete(target, n, seed):
        return target
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(parent)
    partial = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-", dir=parent))
    try:
        generate_dataset(partial, n, seed, workers=workers)
        (partial / MARKER).write_text(json.dumps(_marker(n, seed)) + "\n", encoding="utf-8")
        if _is_complete(target, n, seed):  # another process finished first
            shutil.rmtree(partial)
            return target
        if target.exists():
            stale = parent / f"{_TEMP_PREFIX}{os.getpid()}-stale-{target.name}"
            target.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            partial.rename(target)
        except OSError:
            if not _is_complete(target, n, seed):
                raise
            shutil.rmtree(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def demo_manifest(root: str | Path | None = None, n: int = DEMO_RECORDS, seed: int = DEMO_SEED) -> Path:
    """The demo set's manifest (``<demo folder>.csv``), generating the records and preparing the
    manifest when either is missing or stale. When the manifest is rewritten, the cache beside it,
    built from older records, is removed so that training rebuilds it."""
    data_dir = ensure_demo_data(root, n, seed)
    manifest = data_dir.with_name(f"{data_dir.name}.csv")
    if not manifest.is_file() or manifest.stat().st_mtime < (data_dir / MARKER).stat().st_mtime:
        prepare(data_dir, manifest)
        shutil.rmtree(default_cache_dir(manifest), ignore_errors=True)
    return manifest
