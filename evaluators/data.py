"""Datasets for candidate training: what they are (:func:`dataset_info`) and the data (:func:`load_data`).

Known names:

* ``digits`` (default): scikit-learn's embedded 8×8 handwritten digits (1,797
  images, 10 classes; no download). Pixels are scaled to [0, 1] and normalised
  with the training split's mean/std; a stratified 60/20/20 train/val/test split
  is fixed by the seed (``val_fraction`` does not apply: digits has no official
  test set, and 20 % keeps the search signal from being too noisy).
* ``cifar10``, ``cifar100``, ``mnist``, ``fashion-mnist``: torchvision files in
  ``data_dir`` (or ``data_dir/<name>``; default ``data/<name>``), downloaded only
  with ``download=True``. The official training set is split into train/val by
  ``val_fraction`` (stratified, seeded); ``test`` is the official test set.
  CIFAR uses RandomCrop(32, pad 4) + HFlip + Normalize with the DARTS code's
  mean/std (Liu et al., ICLR 2019) (+ optional Cutout); (fashion-)MNIST only normalises.
* ``imagefolder:PATH[@SIZE]``: one subfolder of images per class. ``PATH/train``
  and ``PATH/val`` (and ``PATH/test``, else test = val) are used when present,
  otherwise a seeded stratified split by ``val_fraction`` for val and for test.
  Images are resized and centre-cropped to ``SIZE`` (default 32); family
  ``imagenet`` if ``SIZE >= 128`` else ``cifar``.

:func:`preprocessing` describes each dataset's input pipeline without augmentation (pixel
scale, resize, per-channel mean/std; for digits the statistics of the seed's training split),
from the same constants the loaders use: ``nas export`` writes it into ``model.py``.

Every split is a batch source from :mod:`evaluators.batches` that already lives
on the training device. Missing or corrupt data raises :class:`DataError` with one
line naming the path and how to fix it; unknown names raise :class:`ConfigError`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evaluators.batches import LoaderSource, TensorSource
from evaluators.imagefolder import PREFIX, folder_classes, folder_samples, folder_splits, image_sources, parse_spec
from nas.errors import ConfigError, DataError

#: the CIFAR-10 statistics of the DARTS code (Liu et al., ICLR 2019; ``_data_transforms_cifar10``).
CIFAR10_MEAN, CIFAR10_STD = (0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)
#: per-channel statistics of the CIFAR-100 training set (the values used by common CIFAR-100 recipes).
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
#: training-set statistics, as in the classic PyTorch MNIST example; Fashion-MNIST likewise.
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

#: (mean, std) per channel that each torchvision dataset is normalised with, after :data:`PIXEL_SCALE`
TORCHVISION_NORM: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD),
    "mnist": (MNIST_MEAN, MNIST_STD), "fashion-mnist": (FASHION_MEAN, FASHION_STD)}
#: uint8 pixels (0..255) are multiplied by this before normalisation (torchvision's ``ToTensor``)
PIXEL_SCALE = 1.0 / 255.0
#: scikit-learn's digits pixels (0..16) are multiplied by this, then standardised (:func:`preprocessing`)
DIGITS_SCALE = 1.0 / 16.0

#: image folders bigger than this (as uint8 at the target size) are streamed, not held in memory.
IMAGEFOLDER_MEMORY_LIMIT = 2 << 30


@dataclass(frozen=True)
class DatasetInfo:
    """Shape facts of a dataset; ``family`` picks a space's ``build_defaults`` entry."""

    name: str
    in_channels: int
    num_classes: int
    image_size: int
    family: str  # "digits" | "cifar" | "imagenet"


@dataclass
class DataBundle:
    """The three splits of a dataset as batch sources on one device."""

    info: DatasetInfo
    train: TensorSource | LoaderSource
    val: TensorSource | LoaderSource
    test: TensorSource | LoaderSource

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


# name -> (in_channels, num_classes, image_size, family, torchvision class, folder torchvision expects)
_TORCHVISION: dict[str, tuple[int, int, int, str, str, str]] = {
    "cifar10": (3, 10, 32, "cifar", "CIFAR10", "cifar-10-batches-py"),
    "cifar100": (3, 100, 32, "cifar", "CIFAR100", "cifar-100-python"),
    "mnist": (1, 10, 28, "cifar", "MNIST", "MNIST/raw"),
    "fashion-mnist": (1, 10, 28, "cifar", "FashionMNIST", "FashionMNIST/raw"),
}
#: datasets known by shape only (for ``nas show`` MACs); train on them via ``imagefolder:PATH@SIZE``
_SHAPE_ONLY: dict[str, tuple[int, int, int, str]] = {"imagenet": (3, 1000, 224, "imagenet")}
KNOWN = ("digits", *_TORCHVISION, "imagefolder:PATH[@SIZE]")


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown dataset {name!r}; known: {', '.join(KNOWN)}")


# -- info ------------------------------------------------------------------------------
def dataset_info(name: str, data_dir: str | os.PathLike | None = None, *,
                 image_size: int | None = None) -> DatasetInfo:
    """Describe ``name`` without loading it (an image folder's classes are listed).

    ``data_dir`` is accepted for symmetry with :func:`load_data`; no shape depends on it.
    """
    if name == "digits":
        return DatasetInfo("digits", 1, 10, 8, "digits")
    if name in _TORCHVISION:
        c, k, s, fam, _, _ = _TORCHVISION[name]
        return DatasetInfo(name, c, k, s, fam)
    if name in _SHAPE_ONLY:
        return DatasetInfo(name, *_SHAPE_ONLY[name])
    if name.startswith(PREFIX):
        root, size = parse_spec(name, image_size)
        return _imagefolder_info(name, size, folder_classes(folder_splits(root)[0]))
    raise _unknown(name)


def _imagefolder_info(name: str, size: int, classes: list[str]) -> DatasetInfo:
    return DatasetInfo(name, 3, len(classes), size, "imagenet" if size >= 128 else "cifar")


# -- loading ------------------------------------------------------------------------------
def load_data(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    val_fraction: float = 0.1,
    augment: bool = True,
    cutout: int = 0,
    image_size: int | None = None,
) -> DataBundle:
    """Load ``name`` onto ``device`` and split it (see the module docstring)."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    if cutout < 0:
        raise ConfigError(f"cutout must be >= 0, got {cutout}")
    device = torch.device(device)
    if name == "digits":
        return _load_digits(seed, device)
    if name in _TORCHVISION:
        return _load_torchvision(name, data_dir, download, seed, device, val_fraction, augment, cutout)
    if name.startswith(PREFIX):
        return _load_imagefolder(name, image_size, seed, device, val_fraction, augment, cutout)
    if name in _SHAPE_ONLY:
        raise DataError(f"{name} cannot be loaded by name: point to a local copy with "
                        f"--dataset imagefolder:PATH@{_SHAPE_ONLY[name][2]} (one subfolder per class)")
    raise _unknown(name)


def load_for_config(config: Any, device: str | torch.device) -> DataBundle:
    """:func:`load_data` with a search config's dataset, data_dir, download and seed (the evaluators' data)."""
    return load_data(config.dataset, data_dir=config.data_dir, download=config.download, seed=config.seed,
                     device=device)


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split indices into ``len(fractions) + 1`` disjoint parts, per class, seeded.

    Each class is shuffled and its first ``round(n * f)`` samples (at least one
    while two or more remain) go to the first part, the next ones to the second,
    and the rest to the last part. The parts are returned sorted.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        for i, f in enumerate(fractions):
            take = int(round(len(idx) * f))
            if take == 0 and f > 0 and len(idx) - start > 1:
                take = 1  # small classes still reach every part, keeping one sample for the last
            parts[i].append(idx[start:start + take])
            start += take
        parts[-1].append(idx[start:])
    return [np.sort(np.concatenate(p)) for p in parts]


def _load_digits(seed: int, device: torch.device) -> DataBundle:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) * DIGITS_SCALE).unsqueeze(1)  # N×1×8×8 in [0, 1]
    y = torch.from_numpy(d.target.astype(np.int64))
    val_idx, test_idx, train_idx = digits_split(d.target, seed)
    mean, std = _digits_stats(x[train_idx])
    x = ((x - mean) / std).to(device)
    y = y.to(device)

    def part(idx: np.ndarray) -> TensorSource:
        t = torch.from_numpy(idx).to(device)
        return TensorSource(x[t], y[t])

    return DataBundle(dataset_info("digits"), part(train_idx), part(val_idx), part(test_idx))


def _load_imagefolder(name: str, image_size: int | None, seed: int, device: torch.device, val_fraction: float,
                      augment: bool, cutout: int) -> DataBundle:
    """An image folder: its own train/val(/test) subfolders, else a seeded stratified split of all images."""
    root, size = parse_spec(name, image_size)
    train_dir, val_dir, test_dir = folder_splits(root)  # the folder is scanned once
    classes = folder_classes(train_dir)
    if val_dir is None:
        every = folder_samples(root, classes, classes)
        labels = np.array([label for _, label in every], dtype=np.int64)
        parts = stratified_split(labels, (val_fraction, val_fraction), seed)
        val, test, train = ([every[i] for i in idx] for idx in parts)
    else:
        train, val = folder_samples(train_dir, classes, classes), folder_samples(val_dir, classes)
        test = folder_samples(test_dir, classes) if test_dir is not None else val
    sources = image_sources(root, train, val, test, size, device=device, augment=augment, cutout=cutout,
                            mean=IMAGENET_MEAN, std=IMAGENET_STD, memory_limit=IMAGEFOLDER_MEMORY_LIMIT)
    return DataBundle(_imagefolder_info(name, size, classes), *sources)


def _dataset_root(name: str, data_dir: Any, download: bool) -> Path:
    marker = _TORCHVISION[name][5]
    if data_dir is None:
        roots = [Path("data") / name]
    else:
        roots = [Path(data_dir).expanduser(), Path(data_dir).expanduser() / name]
    for root in roots:
        if (root / marker).is_dir():
            return root
    if download:
        return roots[0]
    where = str(roots[0]) if len(roots) == 1 else f"{roots[0]} (or {roots[1]})"
    raise DataError(f"{name} not found in {where}: put the '{marker}' folder there or pass --download")


def _load_torchvision(name: str, data_dir: Any, download: bool, seed: int, device: torch.device,
                      val_fraction: float, augment: bool, cutout: int) -> DataBundle:
    import torchvision.datasets as tvd

    channels, _, _, _, cls_name, marker = _TORCHVISION[name]
    root = _dataset_root(name, data_dir, download)
    cls = getattr(tvd, cls_name)
    try:
        # torchvision checks the files' MD5 sums before reading (CIFAR unpickles only verified files).
        train_set, test_set = (cls(str(root), train=t, download=download) for t in (True, False))
    except Exception as e:  # noqa: BLE001 - any failure here means the files are unusable
        what = "could not be downloaded to" if download else "is corrupt or incomplete in"
        raise DataError(f"{name} {what} {root} ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                        f"restore the '{marker}' folder or delete it and pass --download") from None

    def tensors(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
        data = torch.as_tensor(np.asarray(ds.data))
        x = data.permute(0, 3, 1, 2) if data.ndim == 4 else data.unsqueeze(1)  # CIFAR is stored HWC
        return x.contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)

    x, y = tensors(train_set)
    test_x, test_y = tensors(test_set)
    val_idx, train_idx = (torch.from_numpy(i) for i in stratified_split(y.numpy(), (val_fraction,), seed))
    if channels == 3:
        train_aug = {"crop_pad": 4, "flip": True, "cutout": cutout} if augment else {"cutout": cutout}
    else:
        train_aug = {"cutout": cutout}
    mean, std = TORCHVISION_NORM[name]
    norm = {"scale": PIXEL_SCALE, "mean": mean, "std": std}

    def source(xs: torch.Tensor, ys: torch.Tensor, **aug: Any) -> TensorSource:
        return TensorSource(xs.to(device), ys.to(device), **norm, **aug)

    return DataBundle(
        dataset_info(name),
        source(x[train_idx], y[train_idx], **train_aug),
        source(x[val_idx], y[val_idx]),
        source(test_x, test_y),
    )


# -- preprocessing (what an exported model needs to know about its input) -----------------------
@dataclass(frozen=True)
class Preprocessing:
    """How a raw image becomes the network input in training (no augmentation): the export contract.

    Raw pixels (``0..raw_max``, ``channels`` order, ``N×C×H×W``) are multiplied by ``scale``,
    resized (``resize``: shorter side to ``size``, then centre-cropped; else they must already
    be ``size×size``) and normalised per channel: ``(x - mean[c]) / std[c]``.
    """

    raw: str
    raw_max: float
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: int
    resize: bool
    channels: str  # "grayscale" | "RGB"


def digits_split(labels: np.ndarray, seed: int) -> list[np.ndarray]:
    """``[val, test, train]`` indices of the digits: stratified 20/20/60, fixed by ``seed``."""
    return stratified_split(labels, (0.2, 0.2), seed)


def _digits_stats(train_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) std over every pixel of the scaled training images: one scalar each."""
    return train_x.mean(), train_x.std()


def preprocessing(name: str, seed: int = 0, *, image_size: int | None = None) -> Preprocessing:
    """The training-time input pipeline of dataset ``name`` (split seed ``seed``), without augmentation.

    Digits are standardised with the mean/std of their training split, which depends on
    ``seed`` (the search's seed); the other datasets use fixed per-channel constants.
    """
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.from_numpy(d.images.astype(np.float32) * DIGITS_SCALE)
        mean, std = _digits_stats(x[digits_split(d.target, seed)[2]])
        return Preprocessing("scikit-learn load_digits().images: 8x8 grayscale, values 0..16", 16.0,
                             DIGITS_SCALE, (float(mean),), (float(std),), 8, False, "grayscale")
    if name in TORCHVISION_NORM:
        c, _, size, _, cls_name, _ = _TORCHVISION[name]
        mean, std = TORCHVISION_NORM[name]
        kind = "RGB" if c == 3 else "grayscale"
        return Preprocessing(f"torchvision {cls_name} images: {size}x{size} {kind}, uint8 0..255", 255.0,
                             PIXEL_SCALE, tuple(mean), tuple(std), size, False, kind)
    if name in _SHAPE_ONLY or name.startswith(PREFIX):
        size = _SHAPE_ONLY[name][2] if name in _SHAPE_ONLY else parse_spec(name, image_size)[1]
        return Preprocessing("RGB images of any size, uint8 0..255 (decoded image files)", 255.0, PIXEL_SCALE,
                             IMAGENET_MEAN, IMAGENET_STD, size, True, "RGB")
    raise _unknown(name)

