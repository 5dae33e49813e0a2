"""Self-supervised pretraining of the encoder with joint-embedding predictive masks (JEPA).

``pretrain(config)`` runs a :class:`PretrainConfig` (``bundled_config("default", kind=PretrainConfig,
package="leadattn.pretrain")`` or :func:`leadattn.training.load_config` with ``kind=PretrainConfig``)
and returns a :class:`PretrainResult`; its ``last.pt`` initialises training (``finetune.init``).
"""

from leadattn.pretrain.config import JepaConfig, MaskConfig, PredictorConfig, PretrainConfig
from leadattn.pretrain.jepa import Jepa, JepaOutput, Predictor
from leadattn.pretrain.loop import PretrainResult, batch_masks, ema_momentum, plot_pretraining, pretrain

__all__ = [
    "Jepa",
    "JepaConfig",
    "JepaOutput",
    "MaskConfig",
    "PredictorConfig",
    "Predictor",
    "PretrainConfig",
    "PretrainResult",
    "batch_masks",
    "ema_momentum",
    "plot_pretraining",
    "pretrain",
]
