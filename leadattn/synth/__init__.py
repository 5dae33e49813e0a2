"""Synthetic labelled 12-lead ECGs in the PhysioNet/CinC Challenge 2021 format, for demos and tests.

A beat model in cardiac-dipole space (P, QRS and T waves placed by a rate and conduction model) is
projected onto the 12 leads, recording noise is added at the electrodes, and each record's labels
come from the physiology it was given, with class ranges that overlap at the clinical cut-offs and
a little label noise in the demo set. Every record has a side file locating its waves.
"""

from leadattn.synth.annotations import Annotations, Beat, annotation_path, read_annotations, write_annotations
from leadattn.synth.classes import (
    BORDERS,
    CLASSES,
    LABEL_NOISE,
    RANGES,
    RecordSpec,
    class_code,
    noisy_labels,
    sample_labels,
    sample_spec,
    validate_labels,
)
from leadattn.synth.demo import (
    DEMO_RECORDS,
    DEMO_SEED,
    cache_root,
    demo_data_dir,
    demo_manifest,
    ensure_demo_data,
)
from leadattn.synth.generator import SynthRecord, generate_dataset, generate_record, record_name, record_seed
from leadattn.synth.writer import write_record

__all__ = [
    "BORDERS",
    "CLASSES",
    "LABEL_NOISE",
    "RANGES",
    "DEMO_RECORDS",
    "DEMO_SEED",
    "Annotations",
    "Beat",
    "RecordSpec",
    "SynthRecord",
    "annotation_path",
    "cache_root",
    "class_code",
    "demo_data_dir",
    "demo_manifest",
    "ensure_demo_data",
    "generate_dataset",
    "generate_record",
    "noisy_labels",
    "read_annotations",
    "record_name",
    "record_seed",
    "sample_labels",
    "sample_spec",
    "validate_labels",
    "write_annotations",
    "write_record",
]
