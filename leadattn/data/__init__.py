"""Reading challenge records, manifests and splits, the shared preprocessing step, and its cache."""

from leadattn.data.cache import SignalCache, build_cache, cache_is_current, default_cache_dir
from leadattn.data.manifest import (
    ScanResult,
    fold_of,
    manifest_data_dir,
    manifest_labels,
    prepare,
    read_manifest,
    read_patients,
    select_folds,
)
from leadattn.data.preprocess import (
    NORMALISATIONS,
    PreprocessConfig,
    output_length,
    preprocess,
    preprocess_record,
    preprocess_records,
)
from leadattn.data.records import FLAT_MV, Header, Record, RecordError, flat_leads, read_header, read_record
from leadattn.data.sources import SOURCES, source_of

__all__ = [
    "FLAT_MV",
    "NORMALISATIONS",
    "SOURCES",
    "Header",
    "PreprocessConfig",
    "Record",
    "RecordError",
    "ScanResult",
    "SignalCache",
    "build_cache",
    "default_cache_dir",
    "cache_is_current",
    "flat_leads",
    "fold_of",
    "manifest_data_dir",
    "manifest_labels",
    "output_length",
    "prepare",
    "preprocess",
    "preprocess_record",
    "preprocess_records",
    "read_header",
    "read_manifest",
    "read_patients",
    "read_record",
    "select_folds",
    "source_of",
]
