"""A ~10M-parameter text classifier over 8,192 token sequences, for `traindoc probe curvature` at
scale (issue 18; docs/curvature.md "A 10M-parameter model over 8,192 samples").

    traindoc probe curvature --setup benchmarks/setups/text_bag10m.py:setup \
        --samples all --batch-size 2048 --per-layer --density --json

The model is a fastText-style classifier (Joulin et al. 2017): a bag of token embeddings
(78,000 x 128, averaged) and a dense head 128 -> 128 -> 8: 10,001,544 parameters, 99.8% of them in
the embedding, as in most small text models. The data are synthetic (no text corpus ships offline
here): sequences of 32 tokens drawn from a Zipf law (exponent 1.1, like word frequencies), labelled
by a random linear teacher over the mean of fixed random token vectors; time and memory of the
Hessian-vector products do not depend on the labels.

Why this model and not ResNet-18 (benchmarks/curvature_scale.py) or a convolutional network with a
10M dense head: one product of those over >= 8,192 images took 75 s or more on this shared 2-core
CPU machine (measured 2026-12-01 at load 9), so both extremes, every layer and the density (several
hundred products) would take hours. Here a product costs little more than a few passes over the
10M parameters, so the whole measurement fits, and memory is the same story: one batch's
double-backward graph plus the Lanczos basis of parameter-sized vectors.
"""

from __future__ import annotations

import torch
from torch import nn

from traindoc import Setup

VOCAB = 78_000
DIM = 128
LENGTH = 32
CLASSES = 8
TRAIN = 8_192
VAL = 2_048


def sequences(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ranks = torch.arange(1, VOCAB + 1, dtype=torch.float64)
    zipf = ranks.pow(-1.1)
    tokens = torch.multinomial(zipf / zipf.sum(), n * LENGTH, replacement=True, generator=g)
    tokens = tokens.view(n, LENGTH)
    teacher_g = torch.Generator().manual_seed(12345)  # the same teacher for every split
    vectors = torch.randn(VOCAB, 16, generator=teacher_g)
    readout = torch.randn(16, CLASSES, generator=teacher_g)
    labels = (vectors[tokens].mean(1) @ readout).argmax(1)
    return tokens, labels


class BagOfTokens(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        # nn.Embedding + mean, not nn.EmbeddingBag: torch has no second derivative for EmbeddingBag
        self.embed = nn.Embedding(VOCAB, DIM)
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(DIM, DIM), nn.ReLU()]
        layers.append(nn.Linear(DIM, CLASSES))
        self.head = nn.Sequential(*layers)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens).mean(1))


def setup() -> Setup:
    return Setup(
        model=BagOfTokens,
        depth=1,
        train=sequences(TRAIN, seed=0),
        val=sequences(VAL, seed=1),
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda params: torch.optim.Adam(params, lr=3e-3),
        steps=300,
        batch_size=256,
    )
