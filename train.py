"""Train a local lead-attention model: ``python train.py`` (the demo) or ``python train.py --help``."""

from leadattn.training.cli import main

raise SystemExit(main())
