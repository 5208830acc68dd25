"""Sample grids as PNG files."""
from __future__ import annotations

import io
from pathlib import Path

import torch
import torchvision

from harness.storage import atomic_write_bytes


def to_unit(images: torch.Tensor, pixel_range: str, pixel_map: str = "clamp") -> torch.Tensor:
    """Generator output in the variant's range -> (N, 1, 28, 28) in [0, 1] for display.

    'uint8-wrap' emulates ToPILImage on an unscaled [-1, 1] tensor: trunc(255 v) cast to uint8, so negative values
    wrap modulo 256 (what dcgan-xavier's published images show).
    """
    images = images.detach().float().cpu().view(-1, 1, 28, 28)
    if pixel_map == "uint8-wrap":
        return torch.remainder(torch.trunc(images * 255), 256) / 255
    if pixel_range == "[-1,1]":
        images = (images + 1) / 2
    return images.clamp(0, 1)


def save_grid(images: torch.Tensor, path: Path, nrow: int) -> None:
    buffer = io.BytesIO()
    torchvision.utils.save_image(images, buffer, nrow=nrow, padding=2, format="png")
    atomic_write_bytes(path, buffer.getvalue())
