"""Evaluate a checkpoint on a manifest split: ``python evaluate.py CHECKPOINT MANIFEST --out DIR``."""

from leadattn.evaluation.cli import main

raise SystemExit(main())
