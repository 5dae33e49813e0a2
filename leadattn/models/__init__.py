"""The local lead-attention network and its configuration."""

from leadattn.models.attention import AcrossLeadAttention, WithinLeadAttention
from leadattn.models.blocks import LeadAttentionBlock, LeadwiseMeanMaxPool, MaskedMeanMaxPool, TokenMerge
from leadattn.models.config import LocalLeadAttentionConfig
from leadattn.models.flops import count_flops, count_parameters
from leadattn.models.geometry import TokenGeometry
from leadattn.models.modes import eval_mode
from leadattn.models.network import BlockAttention, LeadAttentionOutput, LocalLeadAttentionNet
from leadattn.models.stem import LeadwiseStem

__all__ = [
    "AcrossLeadAttention",
    "BlockAttention",
    "LeadAttentionBlock",
    "LeadAttentionOutput",
    "LeadwiseStem",
    "LocalLeadAttentionConfig",
    "LocalLeadAttentionNet",
    "LeadwiseMeanMaxPool",
    "MaskedMeanMaxPool",
    "TokenGeometry",
    "TokenMerge",
    "WithinLeadAttention",
    "count_flops",
    "count_parameters",
    "eval_mode",
]
