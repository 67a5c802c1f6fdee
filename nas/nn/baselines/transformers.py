"""A small Vision Transformer for 32x32 inputs (Dosovitskiy et al., ICLR 2021) and MLP-Mixer
(Tolstikhin et al., NeurIPS 2021)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from nas.nn.baselines.common import is_imagenet


class MLP(nn.Sequential):
    """Linear-GELU-Linear (the transformer / mixer MLP block)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim),
                         nn.Dropout(dropout))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + MSA(LN(x)), then x + MLP(LN(x)) (Dosovitskiy et al., eq. 2-3)."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float = 0.0):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_dim, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class SmallViT(nn.Module):
    """ViT with non-overlapping ``patch`` x ``patch`` patches linearly embedded (a strided conv), a
    class token, learned position embeddings, ``depth`` pre-norm blocks and a linear head on the
    final class token (Dosovitskiy et al. 2021, §3.1). Defaults: patch 4 for 32x32 inputs (64
    tokens), width 192, 9 blocks of 3 heads, MLP 384."""

    def __init__(self, image_size: int = 32, patch: int = 4, num_classes: int = 10, in_channels: int = 3,
                 dim: int = 192, depth: int = 9, heads: int = 3, mlp_dim: int = 384, dropout: float = 0.0):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image size {image_size} is not a multiple of the patch size {patch}")
        tokens = (image_size // patch) ** 2
        self.embed = nn.Conv2d(in_channels, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*(EncoderBlock(dim, heads, mlp_dim, dropout) for _ in range(depth)))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.ln(self.blocks(x))[:, 0])


class MixerBlock(nn.Module):
    """Token mixing (an MLP across patches, per channel) then channel mixing (an MLP across channels,
    per patch), each pre-normed with a skip (Tolstikhin et al. 2021, eq. 1)."""

    def __init__(self, tokens: int, dim: int, token_mlp: int, channel_mlp: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.token_mlp = MLP(tokens, token_mlp)
        self.ln2 = nn.LayerNorm(dim)
        self.channel_mlp = MLP(dim, channel_mlp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mlp(self.ln1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.ln2(x))


class MLPMixer(nn.Module):
    """MLP-Mixer: per-patch linear embedding, ``depth`` mixer blocks, LayerNorm, global average pooling
    over patches, linear head (Tolstikhin et al. 2021, §2). Mixer-B/16 for ImageNet: patch 16, width
    768, 12 blocks, token MLP 384, channel MLP 3072 (Table 1, 59M parameters)."""

    def __init__(self, image_size: int = 224, patch: int = 16, num_classes: int = 1000, in_channels: int = 3,
                 dim: int = 768, depth: int = 12, token_mlp: int = 384, channel_mlp: int = 3072):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image size {image_size} is not a multiple of the patch size {patch}")
        tokens = (image_size // patch) ** 2
        self.embed = nn.Conv2d(in_channels, dim, patch, patch)
        self.blocks = nn.Sequential(*(MixerBlock(tokens, dim, token_mlp, channel_mlp) for _ in range(depth)))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.ln(self.blocks(x)).mean(1))


def vit_small_p4(info: Any) -> nn.Module:
    """A small ViT with 4x4 patches (Dosovitskiy et al. 2021), for 32x32 (and 28x28, 8x8) inputs."""
    return SmallViT(info.image_size, 4, info.num_classes, info.in_channels)


def mlp_mixer(info: Any) -> nn.Module:
    """Mixer-B/16 for ImageNet; for small inputs a Mixer with 4x4 patches, width 128, 8 blocks,
    token MLP 64, channel MLP 512 (Tolstikhin et al. 2021)."""
    if is_imagenet(info):
        return MLPMixer(info.image_size, 16, info.num_classes, info.in_channels)
    return MLPMixer(info.image_size, 4, info.num_classes, info.in_channels, dim=128, depth=8, token_mlp=64,
                    channel_mlp=512)
