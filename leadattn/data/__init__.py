"""Reading challenge records, manifests and splits, the shared preprocessing step, and its cache."""

from leadattn.data.cache import SignalCache, build_cache, cache_is_current
from leadattn.data.manifest import (
    ScanResult,
    fold_of,
    manifest_data_dir,
    manifest_labels,
    prepare,
    read_manifest,
    select_folds,
)
from leadattn.data.preprocess import PreprocessConfig, output_length, preprocess, preprocess_record
from leadattn.data.records import Header, Record, RecordError, read_header, read_record
from leadattn.data.sources import SOURCES, source_of

__all__ = [
    "SOURCES",
    "Header",
    "PreprocessConfig",
    "Record",
    "RecordError",
    "ScanResult",
    "SignalCache",
    "build_cache",
    "cache_is_current",
    "fold_of",
    "manifest_data_dir",
    "manifest_labels",
    "output_length",
    "prepare",
    "preprocess",
    "preprocess_record",
    "read_header",
    "read_manifest",
    "read_record",
    "select_folds",
    "source_of",
]
