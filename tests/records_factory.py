"""Write challenge-format records (WFDB header + MATLAB ``val``) with wfdb, for tests of odd inputs."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import wfdb
from wfdb.io.convert import wfdb_to_mat

from leadattn.leads import LEADS


def write_record(
    directory: Path,
    name: str,
    signal_mv: np.ndarray,
    fs: float = 500,
    leads: Sequence[str] = LEADS,
    dx: str = "426783006",
    units: str = "mV",
    gain: float = 1000.0,
) -> Path:
    """Write ``signal_mv`` [leads, samples] as ``directory/name.hea`` + ``.mat``; return the header path."""
    directory.mkdir(parents=True, exist_ok=True)
    cwd = Path.cwd()
    os.chdir(directory)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            wfdb.wrsamp(
                name + "_src",
                fs=fs,
                units=[units] * len(leads),
                sig_name=list(leads),
                p_signal=np.asarray(signal_mv, dtype=float).T,
                fmt=["16"] * len(leads),
                adc_gain=[gain] * len(leads),
                baseline=[0] * len(leads),
                comments=["Age: 61", "Sex: Female", f"Dx: {dx}"],
            )
            wfdb_to_mat(name + "_src")
        mat_name = name + "_srcm"
        Path(mat_name + ".mat").rename(name + ".mat")
        header = Path(mat_name + ".hea").read_text().replace(mat_name, name)
        Path(name + ".hea").write_text(header)
        for leftover in (name + "_src.hea", name + "_src.dat", mat_name + ".hea"):
            Path(leftover).unlink(missing_ok=True)
    finally:
        os.chdir(cwd)
    return directory / f"{name}.hea"


def ecg_like(n_leads: int = 12, samples: int = 5000, fs: float = 500, seed: int = 0) -> np.ndarray:
    """A smooth multi-lead test signal in mV: a 1.2 Hz pulse train plus small noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / fs
    beat = np.exp(-(((t * 1.2) % 1.0 - 0.5) ** 2) / 0.002)
    return np.stack([beat * (0.5 + 0.1 * i) + 0.02 * rng.standard_normal(samples) for i in range(n_leads)])
