"""Every finding the flowchart can report has a remedy plan: the finite set of finding ids, exhaustively.

Ground truth: the catalogue of findings in rules/findings.py (the ids a diagnosis can return). Before
this test, `healthy_without_test` (healthy, no test set) had no plan and `traindoc remedies` stopped
with "unknown finding" on such a setup.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from probes.context import ProbeContext
from probes.remedies.plan import TITLES, TRIED
from probes.remedies.run import TRIALS, try_remedies
from probes.setup import Setup
from rules.findings import FINDINGS


def test_every_finding_has_a_plan_and_every_planned_remedy_a_trial() -> None:
    assert {f.id for f in FINDINGS} <= set(TRIED)
    planned = {rid for ids in TRIED.values() for rid in ids}
    assert planned <= set(TRIALS) and planned <= set(TITLES)


@pytest.mark.parametrize("finding", sorted(f for f, ids in TRIED.items() if not ids))
def test_findings_without_trials_answer_without_training(finding: str) -> None:
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    setup = Setup(
        model=lambda depth: nn.Linear(1, 1),
        depth=0,
        train=(x, 2 * x),
        loss=nn.MSELoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
        steps=20,
        batch_size=8,
    )
    ctx = ProbeContext(setup)
    report = try_remedies(ctx, [finding])
    assert ctx.trainings == 0 and report.cost_runs == 0
    assert all(x.status == "not_tried" for x in report.remedies)
    assert report.recommendation  # says why nothing was tried
