"""``imagefolder:PATH[@SIZE]`` datasets: one subfolder of images per class.

Every image is converted to RGB, resized so its shorter side is ``SIZE`` and
centre-cropped to ``SIZE``×``SIZE``. Training batches then get the CIFAR-style
augmentation scaled to the size (zero-padded random crop with padding
``SIZE // 8``, horizontal flip), ImageNet mean/std normalisation, and optional
cutout. Folders that fit in :data:`evaluators.data.IMAGEFOLDER_MEMORY_LIMIT` are
decoded once and held on the device (:class:`TensorSource`); larger ones are
streamed through a ``DataLoader`` with the same transforms (:class:`LoaderSource`),
so the choice does not change what the model is trained on.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from evaluators import data as D
from evaluators.batches import LoaderSource, TensorSource
from nas.errors import DataError

Sample = tuple[Path, int]


def _samples(folder: Path, classes: list[str], listed: list[str] | None = None) -> list[Sample]:
    """The images of ``folder`` labelled by ``classes``; ``listed``: its class folders when already known."""
    index = {c: i for i, c in enumerate(classes)}
    out: list[Sample] = []
    for c in D._folder_classes(folder) if listed is None else listed:
        if c not in index:
            raise DataError(f"image folder {folder} has class {c!r}, which the training folder lacks")
        for entry in sorted(os.scandir(folder / c), key=lambda e: e.name):
            if entry.is_file() and entry.name.lower().endswith(D.IMAGE_EXTENSIONS):
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

    def __init__(self, samples: list[Sample], size: int, augment: bool) -> None:
        import torchvision.transforms as T

        self.samples, self.size = samples, size
        steps = [T.RandomCrop(size, padding=size // 8), T.RandomHorizontalFlip()] if augment else []
        self.transform = T.Compose([*steps, T.ToTensor(), T.Normalize(D.IMAGENET_MEAN, D.IMAGENET_STD)])

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


def load_imagefolder(
    info: "D.DatasetInfo",
    root: Path,
    splits: tuple[Path, Path | None, Path | None],
    classes: list[str],
    *,
    seed: int,
    device: torch.device,
    val_fraction: float,
    augment: bool,
    cutout: int,
) -> "D.DataBundle":
    """Build the train/val/test sources of an image folder (see the module docstring).

    ``splits`` (train, val, test folders) and ``classes`` (those of the train folder) are
    what :func:`evaluators.data.load_data` found when it scanned the folder.
    """
    train_dir, val_dir, test_dir = splits
    if val_dir is None:
        every = _samples(root, classes, classes)
        labels = np.array([label for _, label in every], dtype=np.int64)
        parts = D.stratified_split(labels, (val_fraction, val_fraction), seed)
        val, test, train = ([every[i] for i in idx] for idx in parts)
    else:
        train, val = _samples(train_dir, classes, classes), _samples(val_dir, classes)
        test = _samples(test_dir, classes) if test_dir is not None else val
    if not train or not val:
        which = "training" if not train else "validation"
        raise DataError(f"image folder {root} has no {which} images (extensions: {', '.join(D.IMAGE_EXTENSIONS)})")
    size = info.image_size
    total = (len(train) + len(val) + (0 if test is val else len(test))) * 3 * size * size
    pad = size // 8 if augment else 0
    if total > D.IMAGEFOLDER_MEMORY_LIMIT:
        workers = min(4, os.cpu_count() or 1)

        def stream(s: list[Sample], is_train: bool) -> LoaderSource:
            return LoaderSource(_FileDataset(s, size, is_train and augment), device, num_workers=workers,
                                cutout=cutout if is_train else 0)

        return D.DataBundle(info, stream(train, True), stream(val, False), stream(test, False))

    norm = {"scale": 1.0 / 255.0, "mean": D.IMAGENET_MEAN, "std": D.IMAGENET_STD}

    def held(s: list[Sample], is_train: bool) -> TensorSource:
        x, y = _decode_all(s, size)
        extra = {"crop_pad": pad, "flip": augment, "cutout": cutout} if is_train else {}
        return TensorSource(x.to(device), y.to(device), **norm, **extra)

    val_source = held(val, False)
    return D.DataBundle(info, held(train, True), val_source, val_source if test is val else held(test, False))
