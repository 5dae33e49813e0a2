"""leadattn: local lead-attention classification of 12-lead ECGs (PhysioNet/CinC Challenge 2021)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("leadattn")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
