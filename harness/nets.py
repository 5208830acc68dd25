"""Network pieces that more than one variant uses."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class DropoutMLP(nn.Module):
    """Linear -> LeakyReLU(0.2) -> Dropout(p) per hidden layer, one shared Dropout module, then a final Linear and
    an output function. The input is viewed as (-1, sizes[0]) first, as the Udacity-style originals do."""

    def __init__(self, sizes: list[int], output: Callable[[torch.Tensor], torch.Tensor], p: float = 0.3):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = nn.Dropout(p)
        self.output = output
        self.in_features = sizes[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(-1, self.in_features)
        for layer in self.layers[:-1]:
            x = self.dropout(nn.functional.leaky_relu(layer(x), 0.2))
        return self.output(self.layers[-1](x))


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


def log_softmax_rows(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.log_softmax(x, dim=1)  # the original's implicit dim resolves to 1 for 2-D input


def batch_norm(kind: type[nn.Module], features: int, gamma_uniform: bool) -> nn.Module:
    """BatchNorm whose weight is drawn U(0,1) at construction when asked, as PyTorch <= 1.1 did (same RNG order)."""
    layer = kind(features)
    if gamma_uniform:
        nn.init.uniform_(layer.weight)  # type: ignore[arg-type]
    return layer
