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
  CIFAR uses RandomCrop(32, pad 4) + HFlip + Normalize with the REFERENCE §3.5
  mean/std (+ optional Cutout); (fashion-)MNIST only normalises.
* ``imagefolder:PATH[@SIZE]``: one subfolder of images per class. ``PATH/train``
  and ``PATH/val`` (and ``PATH/test``, else test = val) are used when present,
  otherwise a seeded stratified split by ``val_fraction`` for val and for test.
  Images are resized and centre-cropped to ``SIZE`` (default 32); family
  ``imagenet`` if ``SIZE >= 128`` else ``cifar``.

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
from nas.errors import ConfigError, DataError

#: REFERENCE §3.5 (quark0/darts ``_data_transforms_cifar10``).
CIFAR10_MEAN, CIFAR10_STD = (0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)
#: per-channel statistics of the CIFAR-100 training set (the values used by common CIFAR-100 recipes).
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
#: training-set statistics, as in the classic PyTorch MNIST example; Fashion-MNIST likewise.
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
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
    if name.startswith("imagefolder:"):
        root, size = _parse_imagefolder(name, image_size)
        return _imagefolder_info(name, size, _folder_classes(_folder_splits(root)[0]))
    raise _unknown(name)


def _imagefolder_info(name: str, size: int, classes: list[str]) -> DatasetInfo:
    return DatasetInfo(name, 3, len(classes), size, "imagenet" if size >= 128 else "cifar")


def _parse_imagefolder(name: str, image_size: int | None) -> tuple[Path, int]:
    spec = name[len("imagefolder:"):]
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


def _folder_splits(root: Path) -> tuple[Path, Path | None, Path | None]:
    if not root.is_dir():
        raise DataError(f"image folder {root} not found: create it with one subfolder of images per class")
    train, val, test = root / "train", root / "val", root / "test"
    if train.is_dir() and val.is_dir():
        return train, val, (test if test.is_dir() else None)
    return root, None, None


def _folder_classes(folder: Path) -> list[str]:
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DataError(f"image folder {folder} has no class subfolders: put each class's images in its own folder")
    return classes


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
    if name.startswith("imagefolder:"):
        from evaluators.imagefolder import load_imagefolder

        root, size = _parse_imagefolder(name, image_size)
        splits = _folder_splits(root)  # the folder is scanned once: splits and classes are passed down
        classes = _folder_classes(splits[0])
        return load_imagefolder(_imagefolder_info(name, size, classes), root, splits, classes, seed=seed,
                                device=device, val_fraction=val_fraction, augment=augment, cutout=cutout)
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
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)  # N×1×8×8 in [0, 1]
    y = torch.from_numpy(d.target.astype(np.int64))
    val_idx, test_idx, train_idx = stratified_split(d.target, (0.2, 0.2), seed)
    train_x = x[train_idx]
    mean, std = train_x.mean(), train_x.std()
    x = ((x - mean) / std).to(device)
    y = y.to(device)

    def part(idx: np.ndarray) -> TensorSource:
        t = torch.from_numpy(idx).to(device)
        return TensorSource(x[t], y[t])

    return DataBundle(dataset_info("digits"), part(train_idx), part(val_idx), part(test_idx))


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
        mean, std = (CIFAR10_MEAN, CIFAR10_STD) if name == "cifar10" else (CIFAR100_MEAN, CIFAR100_STD)
        train_aug = {"crop_pad": 4, "flip": True, "cutout": cutout} if augment else {"cutout": cutout}
    else:
        mean, std = (MNIST_MEAN, MNIST_STD) if name == "mnist" else (FASHION_MEAN, FASHION_STD)
        train_aug = {"cutout": cutout}
    norm = {"scale": 1.0 / 255.0, "mean": mean, "std": std}

    def source(xs: torch.Tensor, ys: torch.Tensor, **aug: Any) -> TensorSource:
        return TensorSource(xs.to(device), ys.to(device), **norm, **aug)

    return DataBundle(
        dataset_info(name),
        source(x[train_idx], y[train_idx], **train_aug),
        source(x[val_idx], y[val_idx]),
        source(test_x, test_y),
    )
