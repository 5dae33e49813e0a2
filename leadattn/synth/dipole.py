"""From the heart's electrical dipole to the 12 leads.

The dipole frame: x towards the patient's left, y towards the feet, z anterior. Limb leads I and II see
the dipole through Einthoven's frontal-plane lead vectors (0 and +60 degrees on the hexaxial
reference); the precordial leads V1-V6 through the rows of Dower's vectorcardiogram-to-12-lead
transform (Dower et al., Clin. Cardiol. 1980; its z axis points backwards, so the sign of that column
is flipped here). As an electrocardiograph does, III, aVR, aVL and aVF are computed from I and II, so
the standard identities hold exactly.
"""

from __future__ import annotations

import numpy as np

INDEPENDENT_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
"""The eight leads that carry independent information; the other four follow from I and II."""

LIMB_GAIN = 0.65
"""Length of the limb leads' lead vectors, comparable to the limb rows of Dower's transform."""

_SQRT3_2 = np.sqrt(3.0) / 2.0
LEAD_VECTORS = np.array(
    [
        [LIMB_GAIN, 0.0, 0.0],
        [LIMB_GAIN * 0.5, LIMB_GAIN * _SQRT3_2, 0.0],
        [-0.515, 0.157, 0.917],
        [0.044, 0.164, 1.387],
        [0.882, 0.098, 1.277],
        [1.213, 0.127, 0.601],
        [1.125, 0.127, 0.086],
        [0.831, 0.076, -0.230],
    ]
)
"""Lead vectors [8, 3] of :data:`INDEPENDENT_LEADS` in the dipole frame."""


def project(dipole: np.ndarray) -> np.ndarray:
    """Independent leads [8, n] (mV) seen from a dipole signal [n, 3]."""
    return LEAD_VECTORS @ np.asarray(dipole).T


def expand(independent: np.ndarray) -> np.ndarray:
    """All 12 leads in canonical order from the 8 independent ones ([8, n] -> [12, n]).

    III = II - I, aVR = -(I + II) / 2, aVL = I - II / 2, aVF = II - I / 2.
    """
    lead_i, lead_ii, precordial = independent[0], independent[1], independent[2:]
    limb = np.stack(
        [
            lead_i,
            lead_ii,
            lead_ii - lead_i,
            -(lead_i + lead_ii) / 2,
            lead_i - lead_ii / 2,
            lead_ii - lead_i / 2,
        ]
    )
    return np.concatenate([limb, precordial])


def frontal_axis(net_i: np.ndarray | float, net_avf: np.ndarray | float) -> np.ndarray | float:
    """Hexaxial frontal-plane axis in degrees from the net deflections in leads I and aVF.

    With Einthoven's lead vectors, aVF is sqrt(3)/2 as long as I; the factor is undone so that a
    single dipole at angle a gives exactly a.
    """
    return np.degrees(np.arctan2(np.asarray(net_avf) / _SQRT3_2, np.asarray(net_i)))


def rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Matrix [3, 3] turning vectors by ``degrees`` about ``axis`` (right-hand rule)."""
    k = np.asarray(axis, dtype=float)
    k = k / np.linalg.norm(k)
    angle = np.radians(degrees)
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * (cross @ cross)


def frontal_rotation(degrees: float) -> np.ndarray:
    """Matrix [3, 3] adding ``degrees`` to the frontal-plane angle (from the left towards the feet)."""
    return rotation(np.array([0.0, 0.0, 1.0]), degrees)


def frontal_angle(vector: np.ndarray) -> float:
    """Frontal-plane angle (degrees) of a dipole vector."""
    return float(np.degrees(np.arctan2(vector[1], vector[0])))


def wrap_degrees(angle: np.ndarray | float) -> np.ndarray | float:
    """Angles mapped into [-180, 180)."""
    return (np.asarray(angle) + 180.0) % 360.0 - 180.0
