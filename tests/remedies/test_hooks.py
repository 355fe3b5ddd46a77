"""The optional Setup hooks (augment, model_options), parallel trials, and cancellation, on a small
real setup (a few hundred training steps of a tiny MLP)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from probes.base import ProbeCancelled, ProbeError
from probes.context import ProbeContext
from probes.remedies.run import remedies_probe, try_remedies
from probes.setup import Setup


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    return x, torch.sin(x[:, 0]) + 0.3 * torch.randn(n, generator=gen)


def _model(depth: int, dropout: float = 0.0) -> nn.Module:
    layers: list[nn.Module] = []
    size = 4
    for _ in range(depth):
        layers += [nn.Linear(size, 64), nn.ReLU(), nn.Dropout(dropout)]
        size = 64
    return nn.Sequential(*layers, nn.Linear(size, 1), nn.Flatten(0))


def small(**extra) -> Setup:
    return Setup(
        model=_model,
        depth=2,
        train=_data(64, 0),
        val=_data(128, 1),
        test=_data(128, 2),
        loss=nn.functional.mse_loss,
        optimizer=lambda p: torch.optim.Adam(p, lr=3e-3),
        steps=80,
        batch_size=32,
        **extra,
    )


def test_hooks_turn_advice_into_trials() -> None:
    calls: list[int] = []

    def augment(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(len(x))
        return x + 0.05 * torch.randn_like(x), y

    setup = small(augment=augment, model_options={"dropout": [0.3]})
    report = try_remedies(ProbeContext(setup), ["overfitting"])
    ids = {r.id: r for r in report.remedies}
    assert ids["augment"].status != "not_tried" and ids["augment"].after.val is not None
    assert len(calls) >= setup.steps  # the user's function really ran on every training batch
    (option,) = [r for r in report.remedies if r.id == "model_options"]
    assert option.setting == "model(depth, dropout=0.3)" and option.after.val is not None
    # with the hooks given, their advice is no longer listed as "not tried"
    assert not [r for r in report.remedies if r.status == "not_tried" and r.id in ("augment", "dropout")]


def test_without_hooks_they_are_advice_marked_not_tried() -> None:
    report = try_remedies(ProbeContext(small()), ["overfitting"])
    not_tried = {r.id for r in report.remedies if r.status == "not_tried"}
    assert {"augment", "dropout"} <= not_tried
    assert all(r.after.val is None for r in report.remedies if r.status == "not_tried")


def test_parallel_trials_give_the_same_numbers_as_sequential_ones() -> None:
    one = try_remedies(ProbeContext(small()), ["overfitting"], workers=1)
    two = try_remedies(ProbeContext(small()), ["overfitting"], workers=2)
    assert [(r.id, r.setting, r.status) for r in one.remedies] == [
        (r.id, r.setting, r.status) for r in two.remedies
    ]
    for a, b in zip(one.remedies, two.remedies, strict=True):
        assert (
            a.after.val == pytest.approx(b.after.val, rel=1e-6)
            if a.after.val is not None
            else b.after.val is None
        )


def test_cancel_stops_the_trials() -> None:
    seen: list[str] = []

    def stop() -> bool:
        return len(seen) > 3

    ctx = ProbeContext(small(), progress=lambda p: seen.append(p.message), should_stop=stop)
    with pytest.raises(ProbeCancelled):
        try_remedies(ctx, ["overfitting"])


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({}, "give the findings"),
        ({"findings": "overfit"}, "unknown finding"),
        ({"findings": "overfitting", "workers": 0}, "workers"),
    ],
)
def test_probe_options_are_checked(options: dict, needle: str) -> None:
    with pytest.raises(ProbeError, match=needle):
        remedies_probe(ProbeContext(small()), **options)
