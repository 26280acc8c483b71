"""Keras layers that SPN models are made of."""

from spn_keras.layers.causal_self_attention import CausalSelfAttention
from spn_keras.layers.gated_pixelcnn_block import GatedPixelCNNBlock
from spn_keras.layers.masked_conv2d import MaskedConv2D
from spn_keras.layers.slice_embedder import SliceEmbedder
from spn_keras.layers.slice_embedder_config import SliceEmbedderConfig
from spn_keras.layers.subscale_slicer import SubscaleSlicer
from spn_keras.layers.transformer_layer import TransformerLayer

__all__ = [
    "CausalSelfAttention", "GatedPixelCNNBlock", "MaskedConv2D", "SliceEmbedder",
    "SliceEmbedderConfig", "SubscaleSlicer", "TransformerLayer"
]
