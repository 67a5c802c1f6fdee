"""``imagefolder:PATH[@SIZE]`` datasets: one subfolder of images per class.

This module knows image files: how the dataset name is spelled (:func:`parse_spec`), how a
folder is laid out (:func:`folder_splits`, :func:`folder_classes`, :func:`folder_samples`) and
how images become batch sources (:func:`image_sources`). Which images go to which split is
decided by :func:`evaluators.data.load_data`, which imports this module (never the reverse).

Every image is converted to RGB, resized so its shorter side is ``SIZE`` and
centre-cropped to ``SIZE``×``SIZE``. Training batches then get the CIFAR-style
augmentation scaled to the size (zero-padded random crop with padding
``SIZE // 8``, horizontal flip), mean/std normalisation, and optional cutout. Splits
that fit in ``memory_limit`` bytes are decoded once and held on the device
(:class:`TensorSource`); larger ones are streamed through a ``DataLoader`` with the same
transforms (:class:`LoaderSource`), so the choice does not change what the model is trained on.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from evaluators.batches import LoaderSource, TensorSource
from nas.errors import ConfigError, DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
PREFIX = "imagefolder:"

Sample = tuple[Path, int]


def parse_spec(name: str, image_size: int | None = None) -> tuple[Path, int]:
    """``imagefolder:PATH[@SIZE]`` → (PATH, SIZE); SIZE defaults to ``image_size``, else 32."""
    spec = name[len(PREFIX):]
    size = image_size
    head, sep, tail = spec.rpartition("@")
    if sep and tail.isdigit():
        spec, size = head, int(tail)
    if not spec:
        raise ConfigError(f"dataset {name!r}: expected imagefolder:PATH or imagefolder:PATH@SIZE")
    size = 32 if size is None else size
    if size < 4:
        raise ConfigError(f"dataset {name!r}: image size must be >= 4, got {size}")
    return Path(spec).expanduser(), size


def folder_splits(root: Path) -> tuple[Path, Path | None, Path | None]:
    """(train, val, test) folders: ``root/train`` and ``root/val`` (and ``root/test``) when present."""
    if not root.is_dir():
        raise DataError(f"image folder {root} not found: create it with one subfolder of images per class")
    train, val, test = root / "train", root / "val", root / "test"
    if train.is_dir() and val.is_dir():
        return train, val, (test if test.is_dir() else None)
    return root, None, None


def folder_classes(folder: Path) -> list[str]:
    """The class subfolders of ``folder``, sorted."""
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DataError(f"image folder {folder} has no class subfolders: put each class's images in its own folder")
    return classes


def folder_samples(folder: Path, classes: list[str], listed: list[str] | None = None) -> list[Sample]:
    """The images of ``folder`` labelled by ``classes``; ``listed``: its class folders when already known."""
    index = {c: i for i, c in enumerate(classes)}
    out: list[Sample] = []
    for c in folder_classes(folder) if listed is None else listed:
        if c not in index:
            raise DataError(f"image folder {folder} has class {c!r}, which the training folder lacks")
        for entry in sorted(os.scandir(folder / c), key=lambda e: e.name):
            if entry.is_file() and entry.name.lower().endswith(IMAGE_EXTENSIONS):
                out.append((Path(entry.path), index[c]))
    return out


def _open(path: Path, size: int):  # -> PIL.Image.Image
    from PIL import Image, UnidentifiedImageError
    import torchvision.transforms.functional as TF

    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"cannot read image {path} ({e}); remove or replace the file") from None
    return TF.center_crop(TF.resize(img, size), size)


class _FileDataset(torch.utils.data.Dataset):
    """(path, label) pairs decoded on access; ``augment`` adds crop + flip."""

    def __init__(self, samples: list[Sample], size: int, augment: bool, mean: Sequence[float],
                 std: Sequence[float]) -> None:
        import torchvision.transforms as T

        self.samples, self.size = samples, size
        steps = [T.RandomCrop(size, padding=size // 8), T.RandomHorizontalFlip()] if augment else []
        self.transform = T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        return self.transform(_open(path, self.size)), label


def _decode_all(samples: list[Sample], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    import torchvision.transforms.functional as TF

    x = torch.empty((len(samples), 3, size, size), dtype=torch.uint8)
    for i, (path, _) in enumerate(samples):
        x[i] = TF.pil_to_tensor(_open(path, size))
    return x, torch.tensor([label for _, label in samples], dtype=torch.int64)


def image_sources(
    root: Path,
    train: list[Sample],
    val: list[Sample],
    test: list[Sample],
    size: int,
    *,
    device: torch.device,
    augment: bool,
    cutout: int,
    mean: Sequence[float],
    std: Sequence[float],
    memory_limit: int,
) -> tuple[TensorSource | LoaderSource, TensorSource | LoaderSource, TensorSource | LoaderSource]:
    """Train, val and test batch sources of the given images (``test is val``: one source for both)."""
    if not train or not val:
        which = "training" if not train else "validation"
        raise DataError(f"image folder {root} has no {which} images (extensions: {', '.join(IMAGE_EXTENSIONS)})")
    total = (len(train) + len(val) + (0 if test is val else len(test))) * 3 * size * size
    pad = size // 8 if augment else 0
    if total > memory_limit:
        workers = min(4, os.cpu_count() or 1)

        def stream(s: list[Sample], is_train: bool) -> LoaderSource:
            return LoaderSource(_FileDataset(s, size, is_train and augment, mean, std), device,
                                num_workers=workers, cutout=cutout if is_train else 0)

        return stream(train, True), stream(val, False), stream(test, False)

    norm = {"scale": 1.0 / 255.0, "mean": mean, "std": std}

    def held(s: list[Sample], is_train: bool) -> TensorSource:
        x, y = _decode_all(s, size)
        extra = {"crop_pad": pad, "flip": augment, "cutout": cutout} if is_train else {}
        return TensorSource(x.to(device), y.to(device), **norm, **extra)

    val_source = held(val, False)
    return held(train, True), val_source, val_source if test is val else held(test, False)
