"""Real data sets for end-to-end scenarios: scikit-learn's bundled ones (no network needed).

digits (1797 8x8 images, 10 classes), wine (178 x 13, 3 classes), diabetes (442 x 10, regression),
breast_cancer (569 x 30, 2 classes). Inputs are standardized with the training statistics; regression
targets too, so the trivial loss (predicting the mean) is 1.0 for MSE.

Every scenario's ground truth is established in the test itself, by plain torch or scikit-learn code
that does not go through traindoc (closed-form Hessians of linear models, both models of a depth
comparison trained by hand, dead units counted directly).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from assistant.autorun import run_automatic
from assistant.session import Session
from probes.context import ProbeContext
from probes.setup import Setup

datasets = pytest.importorskip(
    "sklearn.datasets", reason="scikit-learn (the dev extra) provides the real data sets"
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # the machine's two cores are shared by the whole team
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def standardized(x: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    ref = x if like is None else like
    return (x - ref.mean(0)) / (ref.std(0) + 1e-6)


def load(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) as float32 / int64 tensors, unstandardized, in the data set's own order."""
    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    inputs = torch.tensor(x, dtype=torch.float32)
    if name == "diabetes":
        return inputs, torch.tensor(y, dtype=torch.float32).unsqueeze(1)
    return inputs, torch.tensor(y, dtype=torch.int64)


def diabetes() -> tuple[torch.Tensor, torch.Tensor]:
    """Standardized inputs and targets (trivial MSE = variance of the targets = 1 up to n/(n-1))."""
    x, y = load("diabetes")
    return standardized(x), (y - y.mean()) / y.std()


def shuffled_split(
    x: torch.Tensor, y: torch.Tensor, sizes: tuple[int, ...], seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Random disjoint pieces of the given sizes (same distribution by construction)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    out, start = [], 0
    for size in sizes:
        idx = order[start : start + size]
        out.append((x[idx], y[idx]))
        start += size
    return out


def mlp(
    inputs: int, outputs: int, width: int, depth: int, activation: type[nn.Module] = nn.ReLU
) -> nn.Module:
    """`depth` hidden layers of `width` units (depth 0: a linear model)."""
    layers: list[nn.Module] = []
    size = inputs
    for _ in range(depth):
        layers += [nn.Linear(size, width), activation()]
        size = width
    return nn.Sequential(*layers, nn.Linear(size, outputs))


def least_squares_loss(x: torch.Tensor, y: torch.Tensor) -> float:
    """Closed-form least squares with an intercept: the lowest MSE any linear model reaches."""
    design = torch.cat([x, torch.ones(len(x), 1)], 1).double()
    coef = torch.linalg.lstsq(design, y.double()).solution
    return float(((design @ coef - y.double()) ** 2).mean())


def diagnose(setup: Setup) -> tuple[Session, ProbeContext, list[str]]:
    """The automatic diagnosis, as `traindoc diagnose --setup ... --auto` runs it."""
    session = Session()
    ctx = ProbeContext(setup)
    outcomes = run_automatic(session, ctx)
    return session, ctx, [o.probe for o in outcomes]


def findings(session: Session) -> list[str]:
    return [f.id for f in session.report().findings]


def evidence(session: Session, question: str) -> dict:
    answer = session.report().answers[question]
    assert answer.evidence is not None, question
    return answer.evidence.data
