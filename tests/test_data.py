"""IDX reading and validation, and batches that equal what the originals' DataLoader pipelines produce."""
from __future__ import annotations

import gzip

import pytest
import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms

from harness.data import DeviceImages, epoch_order, load_split, read_idx
from harness.errors import StudyError
from tests.conftest import TEST_IMAGES, idx_bytes


def test_reads_plain_and_gzip_idx(tmp_path):
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    (tmp_path / "a").write_bytes(idx_bytes(images))
    (tmp_path / "b.gz").write_bytes(gzip.compress(idx_bytes(images)))
    assert torch.equal(read_idx(tmp_path / "a", 3), images)
    assert torch.equal(read_idx(tmp_path / "b.gz", 3), images)


def test_truncated_and_corrupt_files_are_refused(tmp_path):
    data = idx_bytes(torch.zeros(5, 28, 28, dtype=torch.uint8))
    (tmp_path / "short").write_bytes(data[:-10])
    with pytest.raises(StudyError, match="truncated or corrupt"):
        read_idx(tmp_path / "short", 3)
    (tmp_path / "header").write_bytes(b"\x01\x02" + data[2:])
    with pytest.raises(StudyError, match="bad header"):
        read_idx(tmp_path / "header", 3)
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(StudyError, match="cannot read"):
        read_idx(tmp_path / "bad.gz", 3)


def test_load_split_agrees_with_torchvision(data_root):
    split = load_split(data_root, "mnist", "test")
    reference = torchvision.datasets.MNIST(str(data_root), train=False)
    assert torch.equal(split.images, reference.data) and torch.equal(split.labels.long(), reference.targets)
    assert load_split(data_root, "mnist", "test", limit=7).images.shape == (7, 28, 28)


def test_missing_files_name_what_was_looked_for_and_the_options(tmp_path):
    with pytest.raises(StudyError) as error:
        load_split(tmp_path / "nowhere", "mnist", "test")
    message = str(error.value)
    assert "t10k-images-idx3-ubyte" in message and "--data-root" in message and "STUDY_DATA_ROOT" in message
    assert "\n" not in message


def test_limit_beyond_the_split_is_refused(data_root):
    with pytest.raises(StudyError, match=f"exceeds the {TEST_IMAGES} images"):
        load_split(data_root, "mnist", "test", limit=TEST_IMAGES + 1)


@pytest.mark.parametrize("shuffle", [False, True])
def test_epoch_order_is_the_dataloader_order_and_consumes_the_rng_alike(shuffle):
    dataset = TensorDataset(torch.arange(50))
    torch.manual_seed(7)
    loader_orders = [torch.cat([b[0] for b in DataLoader(dataset, batch_size=8, shuffle=shuffle)]) for _ in range(3)]
    after_loader = torch.rand(3)
    torch.manual_seed(7)
    our_orders = [epoch_order(50, shuffle) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(loader_orders, our_orders))
    assert torch.equal(torch.rand(3), after_loader)


def test_batches_equal_totensor_normalize_and_rescale_pipelines():
    every_value = torch.arange(256, dtype=torch.uint8).repeat(4)[: 28 * 28].view(1, 28, 28)
    images = torch.cat([every_value, every_value.flip(2)])
    index = torch.arange(2)
    to_tensor = torch.stack([transforms.ToTensor()(img.numpy()) for img in images])
    normalized = transforms.Normalize((0.5,), (0.5,))(to_tensor)
    unit = DeviceImages(images, torch.device("cpu"), "[0,1]", flatten=False).batch(index)
    symmetric = DeviceImages(images, torch.device("cpu"), "[-1,1]", flatten=True).batch(index)
    assert torch.equal(unit, to_tensor)  # infogan: ToTensor only
    assert torch.equal(symmetric, normalized.view(2, -1))  # torch7-mlp, dcgan-xavier: Normalize(0.5, 0.5)
    assert torch.equal(symmetric, (to_tensor * 2 - 1).view(2, -1))  # udacity, nll-softmax: images*2 - 1


def test_real_mnist_test_split_reads(real_data_root):
    split = load_split(real_data_root, "mnist", "test")
    assert split.images.shape == (10_000, 28, 28) and split.labels.shape == (10_000,)
    assert split.labels[:5].tolist() == [7, 2, 1, 0, 4]  # the canonical first test labels
