"""leadattn: local lead-attention classification of 12-lead ECGs (PhysioNet/CinC Challenge 2021)."""

__version__ = "0.1.0"
