"""Optimizers the originals' PyTorch behaved like, where today's differs."""
from __future__ import annotations

from typing import Iterable

import torch


class DataAliasAdam:
    """Adam whose update is written through ``.data`` aliases of the parameters, as PyTorch <= 1.4 optimizers did.

    An in-place update through ``.data`` does not bump the parameters' autograd version counters, so a graph built
    before the step can still be back-propagated afterwards: it then uses the updated weights with the activations
    saved before the update. infogan's generator step relies on exactly that; on today's PyTorch a normal
    ``optimizer.step()`` makes that backward raise.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], **adam_options):
        self.params = list(params)
        self.aliases = [p.data for p in self.params]
        self.adam = torch.optim.Adam(self.aliases, **adam_options)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for alias, p in zip(self.aliases, self.params):
            alias.grad = p.grad
        self.adam.step()
        for alias in self.aliases:
            alias.grad = None

    def state_dict(self) -> dict:
        return self.adam.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.adam.load_state_dict(state)
