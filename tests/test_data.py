"""Datasets: digits split, torchvision path errors, image folders, batch augmentation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from evaluators import data as D
from evaluators.batches import LoaderSource, TensorSource, apply_cutout, random_crop, random_flip
from nas.errors import ConfigError, DataError


def _all(source, batch_size=128):
    xs, ys = zip(*source.batches(batch_size))
    return torch.cat(xs), torch.cat(ys)


# -- digits -----------------------------------------------------------------------------------
def test_stratified_split_is_disjoint_complete_stratified_and_seeded():
    from sklearn.datasets import load_digits

    y = load_digits().target
    val, test, train = D.stratified_split(y, (0.2, 0.2), seed=3)
    assert len(set(val) | set(test) | set(train)) == len(y) == len(val) + len(test) + len(train)
    for c in range(10):
        n = int((y == c).sum())
        for part, f in ((val, 0.2), (test, 0.2)):
            assert abs(int((y[part] == c).sum()) - n * f) <= 1
    again = D.stratified_split(y, (0.2, 0.2), seed=3)
    other = D.stratified_split(y, (0.2, 0.2), seed=4)
    assert all(np.array_equal(a, b) for a, b in zip((val, test, train), again))
    assert not np.array_equal(val, other[0])


def test_digits_bundle_shapes_normalisation_and_determinism():
    a, b = D.load_data("digits", seed=0), D.load_data("digits", seed=0)
    assert a.info == D.dataset_info("digits") == D.DatasetInfo("digits", 1, 10, 8, "digits")
    assert sum(a.sizes.values()) == 1797 and a.sizes["val"] == a.sizes["test"]
    x, y = _all(a.train)
    assert x.shape[1:] == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3
    assert torch.equal(x, _all(b.train)[0]) and torch.equal(_all(a.test)[1], _all(b.test)[1])
    assert not torch.equal(_all(D.load_data("digits", seed=1).val)[1], _all(a.val)[1])
    # shuffled batches: a permutation of the split, reproducible from the generator seed
    order1 = torch.cat([yb for _, yb in a.train.batches(100, shuffle=True, generator=torch.Generator().manual_seed(5))])
    order2 = torch.cat([yb for _, yb in a.train.batches(100, shuffle=True, generator=torch.Generator().manual_seed(5))])
    assert torch.equal(order1, order2) and not torch.equal(order1, y)
    assert torch.equal(order1.sort().values, y.sort().values)


# -- errors ---------------------------------------------------------------------------------------
def test_unknown_dataset_lists_known_names():
    with pytest.raises(ConfigError, match="unknown dataset 'cifar11'.*cifar10.*digits|unknown dataset 'cifar11'.*digits.*cifar10"):
        D.load_data("cifar11")
    with pytest.raises(ConfigError, match="imagefolder"):
        D.dataset_info("svhn")


def test_missing_cifar_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(DataError) as e:
        D.load_data("cifar10", data_dir=tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg and "cifar-10-batches-py" in msg and "--download" in msg and "\n" not in msg


def test_corrupt_cifar_folder_is_a_data_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match=f"corrupt or incomplete in {tmp_path}"):
        D.load_data("cifar10", data_dir=tmp_path)


def test_dataset_info_of_builtins():
    assert D.dataset_info("cifar100") == D.DatasetInfo("cifar100", 3, 100, 32, "cifar")
    assert D.dataset_info("fashion-mnist").in_channels == 1


# -- image folders ------------------------------------------------------------------------------------
def _write_images(root, classes=("cat", "dog"), per_class=6, size=(12, 10), seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.png")


def test_imagefolder_seeded_split(tmp_path):
    _write_images(tmp_path, per_class=10)
    name = f"imagefolder:{tmp_path}@16"
    info = D.dataset_info(name)
    assert (info.in_channels, info.num_classes, info.image_size, info.family) == (3, 2, 16, "cifar")
    bundle = D.load_data(name, seed=0, val_fraction=0.2)
    assert bundle.sizes == {"train": 12, "val": 4, "test": 4}
    x, y = next(bundle.train.batches(5, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert x.shape == (5, 3, 16, 16) and set(y.tolist()) <= {0, 1}
    assert torch.equal(_all(bundle.val)[0], _all(D.load_data(name, seed=0, val_fraction=0.2).val)[0])
    assert D.dataset_info(f"imagefolder:{tmp_path}@160").family == "imagenet"


def test_imagefolder_train_val_subfolders_and_streaming_agree(tmp_path, monkeypatch):
    _write_images(tmp_path / "train", per_class=4)
    _write_images(tmp_path / "val", per_class=2, seed=1)
    name = f"imagefolder:{tmp_path}"
    held = D.load_data(name)
    assert held.info.image_size == 32 and held.sizes == {"train": 8, "val": 4, "test": 4}
    assert isinstance(held.val, TensorSource)
    monkeypatch.setattr(D, "IMAGEFOLDER_MEMORY_LIMIT", 0)
    streamed = D.load_data(name)
    assert isinstance(streamed.val, LoaderSource)
    (xh, yh), (xs, ys) = _all(held.val), _all(streamed.val)
    assert torch.equal(yh, ys) and torch.allclose(xh, xs, atol=1e-5)
    xb, _ = next(streamed.train.batches(3, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert xb.shape == (3, 3, 32, 32)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DataError, match=f"image folder {tmp_path / 'nope'} not found"):
        D.dataset_info(f"imagefolder:{tmp_path / 'nope'}")
    _write_images(tmp_path / "ok", per_class=3)
    (tmp_path / "ok" / "cat" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read image .*bad.png"):
        D.load_data(f"imagefolder:{tmp_path / 'ok'}")


# -- augmentation ---------------------------------------------------------------------------------------
def test_random_crop_takes_shifted_windows_of_the_zero_padded_image():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6) + 1
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, a:a + 6, b:b + 6] for a in range(5) for b in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_flip_and_cutout():
    x = torch.randn(64, 2, 8, 8)
    g = torch.Generator().manual_seed(0)
    flipped = random_flip(x, g)
    same = [torch.equal(flipped[i], x[i]) for i in range(64)]
    assert all(s or torch.equal(flipped[i], x[i].flip(2)) for i, s in enumerate(same))
    assert 10 < sum(same) < 54
    ones = torch.ones(64, 2, 8, 8)
    cut = apply_cutout(ones, 4, g)
    zeros = (cut == 0).sum(dim=(2, 3))
    assert torch.equal(zeros[:, 0], zeros[:, 1])  # the same square on every channel
    assert (zeros[:, 0] <= 16).all() and (zeros[:, 0] >= 4).all()  # a 4×4 square, clipped at most to 2×2
    assert (zeros[:, 0] == 16).any()


def test_tensor_source_drops_a_single_trailing_training_sample():
    src = TensorSource(torch.zeros(9, 1, 2, 2), torch.zeros(9))
    assert [len(y) for _, y in src.batches(4, shuffle=True)] == [4, 4]
    assert [len(y) for _, y in src.batches(4)] == [4, 4, 1]


class _RandomDataset(torch.utils.data.Dataset):
    """Images with a random per-item transform drawn from torch's global RNG (as torchvision's are)."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int):
        return torch.full((1, 4, 4), float(i)) + torch.rand(1, 4, 4), i


@pytest.mark.parametrize("workers,batch", [(0, 4), (0, 10), (0, 16), (1, 3), (1, 4), (2, 2), (2, 3)])
def test_loader_source_sample_is_the_first_shuffled_batch(workers, batch):
    """``sample`` = ``next(iter(batches(shuffle=True)))``: same batch, same generator and global RNG after."""
    src = LoaderSource(_RandomDataset(), "cpu", num_workers=workers, cutout=2)
    results = []
    for draw in (lambda g: next(iter(src.batches(batch, shuffle=True, generator=g))),
                 lambda g: src.sample(batch, g)):
        torch.manual_seed(7)
        g = torch.Generator().manual_seed(3)
        x, y = draw(g)
        results.append((x, y, g.get_state(), torch.get_rng_state()))
    (xa, ya, ga, ra), (xb, yb, gb, rb) = results
    assert torch.equal(ya, yb) and torch.equal(xa, xb) and torch.equal(ga, gb) and torch.equal(ra, rb)


def test_tensor_source_sample_is_the_first_shuffled_batch():
    src = TensorSource(torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8), torch.arange(20), scale=1 / 255,
                       mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2), crop_pad=1, flip=True, cutout=2)
    ga, gb = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    xa, ya = next(iter(src.batches(6, shuffle=True, generator=ga)))
    xb, yb = src.sample(6, gb)
    assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(ga.get_state(), gb.get_state())
    with pytest.raises(ValueError, match="from 1 sample"):
        TensorSource(torch.zeros(1, 1, 2, 2), torch.zeros(1)).sample(4, ga)
