"""Batch sources used by the trainer: in-memory tensors or a streaming loader.

A *batch source* yields ``(x, y)`` tensors on the training device::

    for x, y in source.batches(64, shuffle=True, generator=g): ...
    x, y = source.sample(64, g)   # one random batch: the first of a shuffled pass, drawn cheaply

:class:`TensorSource` keeps a whole split on the device (uint8 images, or
already-normalised floats for ``digits``) and does the standard augmentation as
batched tensor ops, so there is no ``DataLoader`` or per-image Python overhead and
the only randomness comes from the ``torch.Generator`` passed in (shuffle order,
crop offsets, flips, cutout centres), which makes training reproducible and
resumable from the generator's state.

The augmentations reproduce the torchvision pipeline of quark0/darts
``_data_transforms_cifar10`` (cnn/utils.py): ``RandomCrop(32, padding=4)``
(zero padding in pixel space, i.e. before ``Normalize``), ``RandomHorizontalFlip``,
``Normalize(mean, std)``, then ``Cutout(length)`` (DARTS ``utils.Cutout``: a
``length``×``length`` square, centre uniform over the image, clipped at the
border, set to zero *after* normalisation).

:class:`LoaderSource` wraps a map-style dataset with a ``DataLoader`` for image
folders too large to hold in memory; cutout is then applied on the device.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop(x: Tensor, pad: int, generator: torch.Generator | None) -> Tensor:
    """Per-sample random crop of a zero-padded batch (``RandomCrop(H, padding=pad)``)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h)).to(x.device)  # (B, H)
    cols = (ox[:, None] + torch.arange(w)).to(x.device)  # (B, W)
    bidx = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def random_flip(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Flip each sample horizontally with probability 1/2."""
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def apply_cutout(x: Tensor, length: int, generator: torch.Generator | None) -> Tensor:
    """DARTS ``Cutout(length)`` on a batch: zero one clipped square per sample."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator)[:, None]
    cx = torch.randint(0, w, (b,), generator=generator)[:, None]
    half = length // 2
    ys, xs = torch.arange(h)[None, :], torch.arange(w)[None, :]
    in_y = (ys >= cy - half) & (ys < cy + half)  # (B, H)
    in_x = (xs >= cx - half) & (xs < cx + half)  # (B, W)
    keep = ~(in_y[:, :, None] & in_x[:, None, :])
    return x * keep[:, None].to(device=x.device, dtype=x.dtype)


def _stats(values: Sequence[float] | None, device: torch.device) -> Tensor | None:
    if values is None:
        return None
    return torch.tensor(list(values), dtype=torch.float32, device=device).view(1, -1, 1, 1)


class TensorSource:
    """A split held as tensors on one device.

    ``x`` is either uint8 pixels (``scale`` = 1/255 turns them into [0, 1]) or
    floats that are used as they are; ``mean``/``std`` (per channel) normalise
    after cropping and flipping. ``crop_pad``/``flip``/``cutout`` switch the
    training augmentations on (leave them off for validation and test splits).
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        *,
        scale: float | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        crop_pad: int = 0,
        flip: bool = False,
        cutout: int = 0,
    ) -> None:
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{x.shape[0]} images but {y.shape[0]} labels")
        self.x, self.y = x, y.long()
        self.scale = scale
        self.mean, self.std = _stats(mean, x.device), _stats(std, x.device)
        self.crop_pad, self.flip, self.cutout = crop_pad, flip, cutout

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x.device

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        cutout: int | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield batches in a seeded random order (``shuffle``) or in order.

        A trailing batch of one sample is dropped when shuffling, because
        BatchNorm cannot train on it; evaluation always sees every sample.
        ``cutout`` overrides the source's own cutout length.
        """
        n = len(self)
        length = self.cutout if cutout is None else cutout
        if shuffle:
            order = torch.randperm(n, generator=generator).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if shuffle and idx.numel() < 2:
                break
            yield self._transform(self.x[idx], generator, length), self.y[idx]

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One random batch: exactly the first batch of ``batches(batch_size, shuffle=True, generator=generator)``.

        Same generator draws (the whole permutation, then the augmentation), but only the
        chosen indices are moved to the device.
        """
        n = len(self)
        if n < 2:
            raise ValueError(f"cannot draw a training batch from {n} sample(s)")
        idx = torch.randperm(n, generator=generator)[:batch_size].to(self.device)
        return self._transform(self.x[idx], generator, self.cutout), self.y[idx]

    def _transform(self, x: Tensor, g: torch.Generator | None, length: int) -> Tensor:
        if self.scale is not None:
            x = x.float().mul_(self.scale)
        if self.crop_pad:
            x = random_crop(x, self.crop_pad, g)
        if self.flip:
            x = random_flip(x, g)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        if length:
            x = apply_cutout(x, length, g)
        return x


class LoaderSource:
    """A map-style dataset streamed through a ``DataLoader`` (large image folders).

    The dataset's own transform does decoding, resizing, cropping, flipping and
    normalisation; batches are moved to ``device`` and cutout is applied there.
    Shuffling and worker seeds come from ``generator``, so runs are repeatable.
    """

    def __init__(self, dataset: torch.utils.data.Dataset, device: torch.device | str, *,
                 num_workers: int = 0, cutout: int = 0) -> None:
        self.dataset, self.device = dataset, torch.device(device)
        self.num_workers, self.cutout = num_workers, cutout

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        cutout: int | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        length = self.cutout if cutout is None else cutout
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
            num_workers=self.num_workers, pin_memory=self.device.type == "cuda",
            drop_last=False, persistent_workers=False,
        )
        for x, y in loader:
            if shuffle and y.shape[0] < 2:
                break
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            yield (apply_cutout(x, length, generator) if length else x), y

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One random batch, equal to the first batch of ``batches(batch_size, shuffle=True, generator=generator)``.

        Loaded in this process without starting a ``DataLoader`` (nor its worker processes),
        with the generator draws one makes: its base seed, the permutation, the trailing
        permutation of its sampler when the loader has asked for more than ``len(self)``
        indices by the time the first batch arrives (1 batch without workers, ``2w + 1`` with
        ``w``: the default prefetch), then cutout. The dataset's random transforms draw from
        torch's global RNG as with ``num_workers=0``; with workers, from a CPU RNG seeded as
        the loader seeds its worker 0 (which loads the first batch), the global state left
        untouched. ``tests/test_data.py`` checks the equality against ``DataLoader``.
        """
        n = len(self)
        if n < 2:
            raise ValueError(f"cannot draw a training batch from {n} sample(s)")
        base_seed = int(torch.empty((), dtype=torch.int64).random_(generator=generator).item())
        idx = torch.randperm(n, generator=generator)[:batch_size].tolist()
        requested = batch_size * (1 if self.num_workers == 0 else 2 * self.num_workers + 1)
        if requested > n:  # RandomSampler's final ``randperm(n)[:0]`` ran when its permutation ran out
            torch.randperm(n, generator=generator)
        with contextlib.ExitStack() as stack:
            if self.num_workers > 0:
                stack.enter_context(torch.random.fork_rng(devices=[]))
                torch.default_generator.manual_seed(base_seed)  # worker 0's seed: base_seed + 0
            x, y = torch.utils.data.default_collate([self.dataset[i] for i in idx])
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        return (apply_cutout(x, self.cutout, generator) if self.cutout else x), y
