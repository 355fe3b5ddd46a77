"""Training loss fine: overfitting, mismatch or healthy, on real data.

Ground truth by construction of the splits (random pieces of one data set are one distribution; a
left-right mirrored test set is another) and confirmed in plain torch: more training data from the
same distribution lowers an overfitting model's held-out loss, and does nothing for a mismatched
test set.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from probes.setup import Setup
from tests.realdata.conftest import diagnose, findings, load, mlp, shuffled_split


def digits(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load("digits")
    return x / 16.0, y  # pixel intensities 0..16 -> 0..1 (standardizing would blow up blank pixels)


def mirrored(x: torch.Tensor) -> torch.Tensor:
    """The 8x8 images flipped left-right: the same digits, drawn as in a mirror."""
    return x.view(-1, 8, 8).flip(-1).reshape(-1, 64)


def fit(train: tuple[torch.Tensor, torch.Tensor], steps: int, seed: int = 0, width: int = 128) -> nn.Module:
    """Plain torch: full-batch Adam on a one-hidden-layer ReLU net."""
    x, y = train
    torch.manual_seed(seed)
    model = mlp(64, 10, width, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model


def loss_of(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> float:
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(data[0]), data[1]))


def classifier(train, val, test, steps: int = 300, width: int = 128) -> Setup:
    return Setup(
        model=lambda d: mlp(64, 10, width, d),
        depth=1,
        train=train,
        val=val,
        test=test,
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
        steps=steps,
        batch_size=len(train[0]),
    )


def test_sixty_training_images_overfit():
    x, y = digits()
    small, val, test, more = shuffled_split(x, y, (60, 400, 400, 900))
    # ground truth: same distribution by construction; in plain torch the held-out loss falls a lot
    # when the same net trains on 15x more images of that distribution (the lecture's remedy)
    few, many = fit(small, 300), fit((torch.cat([small[0], more[0]]), torch.cat([small[1], more[1]])), 300)
    assert loss_of(few, small) < 0.01
    assert loss_of(few, test) > 2 * loss_of(many, test)
    session, _, _ = diagnose(classifier(small, val, test))
    assert findings(session) == ["overfitting"]


def test_a_mirrored_test_set_is_mismatch():
    x, y = digits()
    train, val, test = shuffled_split(x, y, (1000, 300, 400))
    shifted = (mirrored(test[0]), test[1])
    # ground truth: the validation split is fine and the mirrored test set is not, and more data of
    # the training distribution does not fix it (plain torch, 1000 vs 1300 training images)
    model = fit(train, 200)
    bigger = fit((torch.cat([train[0], val[0]]), torch.cat([train[1], val[1]])), 200)
    assert loss_of(model, test) < 0.3 and loss_of(model, shifted) > 1.0
    assert loss_of(bigger, shifted) > 0.8 * loss_of(model, shifted)
    session, _, _ = diagnose(classifier(train, val, shifted, steps=200))
    assert findings(session) == ["mismatch"]


def test_a_small_net_on_a_thousand_digits_is_healthy():
    x, y = digits()
    train, val, test = shuffled_split(x, y, (1000, 300, 497))
    # ground truth: scikit-learn's logistic regression, fitted independently on the same split,
    # scores >= 95% on the test images: the classes are well separated and a fine result is the true
    # answer; the plain-torch net of the recipe loses little between training and test
    linear_model = pytest.importorskip("sklearn.linear_model")
    clf = linear_model.LogisticRegression(max_iter=2000).fit(train[0].numpy(), train[1].numpy())
    assert clf.score(test[0].numpy(), test[1].numpy()) >= 0.95
    model = fit(train, 60, width=32)
    assert loss_of(model, test) - loss_of(model, train) < 0.1 * math.log(10)
    session, _, _ = diagnose(classifier(train, val, test, steps=60, width=32))
    assert findings(session) == ["healthy"]
