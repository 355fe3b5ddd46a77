"""`--executor ray`: the probes' independent trainings as Ray tasks (a real local Ray, 2 CPUs).

Ground truth: the same probe run in this process (the local executor, today's behaviour: each training
seeds itself with torch.manual_seed(seed) and its own batch generator). A Ray task runs the same
function on the same Setup with the same seed and the same thread count (1: TRAINDOC_THREADS, which
the conftest and CI set), so every loss must be EQUAL, to the last bit, not merely close: float32
(tiny_regression) and float64 (float64_regression). The setups come from FILES the Ray workers cannot
import (loaded by path), so their code must travel with the tasks; the diverging setup below lives in
this test module, which the workers cannot import either.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from probes import Setup
from probes.base import ProbeCancelled, ProbeProgress
from probes.context import ProbeContext
from probes.executor_options import ExecutorChoice
from probes.generalization import holdout_split
from probes.registry import run_probe
from probes.remedies.run import try_remedies
from probes.setup import load_setup
from tests.probes.conftest import SETUPS, start_local_ray

ray = pytest.importorskip("ray", reason="Ray is optional (pip install ray): the Ray executor is not tested")

pytestmark = pytest.mark.slow

TINY = f"{SETUPS}/tiny_regression.py:setup"
FLOAT64 = f"{SETUPS}/float64_regression.py:setup"
RAY = ExecutorChoice("ray", None, 2)


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    start_local_ray(ray)
    yield
    ray.shutdown()


def ladder(spec: str, **options: Any) -> dict[str, Any]:
    return run_probe("depth", ProbeContext(load_setup(spec)), depths="1,2,3", seeds=2, **options).data


@pytest.mark.parametrize("spec", [TINY, FLOAT64], ids=["float32", "float64"])
def test_a_ladder_on_ray_equals_the_local_ladder_bit_for_bit(spec: str) -> None:
    here = ladder(spec)
    seen: list[ProbeProgress] = []
    ctx = ProbeContext(load_setup(spec), progress=seen.append)
    there = run_probe("depth", ctx, depths="1,2,3", seeds=2, executor="ray", workers=2).data
    assert here["executor"] == {"kind": "local", "address": None, "workers": 1}
    assert there["executor"] == {"kind": "ray", "address": None, "workers": 2}
    for a, b in zip(here["ladder"], there["ladder"], strict=True):
        assert (a["depth"], a["seeds"], a["diverged"]) == (b["depth"], b["seeds"], b["diverged"])
        assert a["losses"] == b["losses"]  # equal, not approximately equal
        assert a["parameters"] == b["parameters"]
    assert here["comparison"] == there["comparison"] and here["trainings"] == there["trainings"]
    # each of the 5 trainings on Ray (3 depths x 2 seeds, less the user's own run) reported as it finished
    ray_done = [p for p in seen if p.probe == "depth" and p.message.endswith("(Ray)")]
    assert len(ray_done) == 5 and sorted(p.done for p in ray_done) == [2, 3, 4, 5, 6]
    # the models trained on Ray are kept for the probes after the ladder (remedies share them)
    assert ctx.has_trained(3, 1) and isinstance(ctx.trained(3, 1).model, nn.Module)


def test_the_held_out_retraining_on_ray_gives_the_same_model() -> None:
    here, _, _ = holdout_split(ProbeContext(load_setup(FLOAT64)))
    there, _, _ = holdout_split(ProbeContext(load_setup(FLOAT64), executor=RAY))
    assert here.step_losses == there.step_losses and here.final_train_loss == there.final_train_loss
    for (name, a), (_, b) in zip(
        here.model.state_dict().items(), there.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def report_numbers(report: Any) -> list[tuple[Any, ...]]:
    """What a remedy trial measured (not how long it took)."""
    return [
        (
            x.id,
            x.status,
            x.setting,
            x.before,
            x.after,
            x.change,
            x.cost_runs,
            [c.model_dump() for c in x.curve],
        )
        for x in report.remedies
    ]


def test_remedy_trials_on_ray_equal_the_local_trials() -> None:
    # optimization_issue tries momentum and Adam (optimizer factories defined in probes.remedies), a
    # learning-rate range test (a schedule and a tracking set), longer training and a shallower model
    # (trained through the context): every kind of Variant travels
    here = try_remedies(ProbeContext(load_setup(TINY)), ["optimization_issue"])
    seen: list[ProbeProgress] = []
    ctx = ProbeContext(load_setup(TINY), progress=seen.append)
    there = try_remedies(ctx, ["optimization_issue"], workers=2, executor="ray")
    assert any(p.message.endswith("done (Ray)") for p in seen)  # the trials did run on Ray
    assert there.executor == {"kind": "ray", "address": None, "workers": 2}
    assert here.executor == {"kind": "local", "address": None, "workers": 1}
    assert report_numbers(here) == report_numbers(there)
    assert (here.baseline, here.noise, here.best) == (there.baseline, there.noise, there.best)
    assert {x.status for x in here.remedies} - {"not_tried", "skipped"}  # trials did run


def _diverging_model(depth: int) -> nn.Module:
    """Depth 3 and deeper: an output layer scaled by 1e30, so the first loss is inf."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(3, 8), nn.Tanh()]
    for _ in range(max(0, depth - 1)):
        layers += [nn.Linear(8, 8), nn.Tanh()]
    model = nn.Sequential(*layers, nn.Linear(8, 1))
    if depth >= 3:
        with torch.no_grad():
            model[-1].weight.mul_(1e30)  # squared by the loss: 1e60, beyond float32 (3.4e38)
    return model


def diverging_setup() -> Setup:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 3, generator=g)
    return Setup(
        model=_diverging_model,
        depth=2,
        train=(x, x.sum(1, keepdim=True)),
        loss=nn.MSELoss(),
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05),
        steps=20,
        batch_size=32,
    )


def test_a_rung_that_blows_up_on_ray_is_data_as_it_is_here() -> None:
    # the worker's TrainingDiverged comes back as that class: the rung is "diverged", not "failed"
    here = run_probe("depth", ProbeContext(diverging_setup()), depths="1,2,3", seeds=1).data
    there = run_probe("depth", ProbeContext(diverging_setup()), depths="1,2,3", seeds=1, executor="ray").data
    deepest = [r for r in there["ladder"] if r["depth"] == 3][0]
    assert deepest["diverged"] == [0] and deepest["failed"] is None and deepest["losses"] == []
    assert [(r["depth"], r["losses"], r["diverged"]) for r in here["ladder"]] == [
        (r["depth"], r["losses"], r["diverged"]) for r in there["ladder"]
    ]


def test_a_stop_during_a_ladder_cancels_every_ray_task() -> None:
    # 7 trainings of 2,000 steps on 2 CPUs; the stop comes as soon as the first one finishes on Ray
    setup = load_setup(TINY).model_copy(update={"steps": 2000})
    stop = threading.Event()
    finished: list[str] = []

    def progress(p: ProbeProgress) -> None:
        if p.probe == "depth" and p.message.endswith("(Ray)"):
            finished.append(p.message)
            stop.set()

    ctx = ProbeContext(setup, progress=progress, should_stop=stop.is_set, executor=RAY)
    ctx.trained()  # the user's own run (here) first, so the stop falls among the Ray tasks
    with pytest.raises(ProbeCancelled):
        run_probe("depth", ctx, depths="1,2,3,4", seeds=2)
    assert 1 <= len(finished) < 7  # stopped long before the 7 Ray trainings were done
    # nothing is left running: every CPU of the local Ray is free again (Ray frees a cancelled
    # task's CPU as the worker reports back, within moments)
    deadline = time.monotonic() + 20
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ray.available_resources().get("CPU", 0) == 2


def test_a_worker_crash_is_one_line() -> None:
    from probes.trainings import Training, run_trainings

    (result,) = run_trainings([Training("crash", math.sqrt, (-1.0,))], RAY)
    # math.sqrt takes no progress keyword: the worker's TypeError comes back as a ProbeError's line
    assert "a Ray worker failed" in str(result) and "\n" not in str(result)


def test_a_diagnosis_with_a_ray_executor_reaches_the_same_findings() -> None:
    # `traindoc diagnose --executor ray`: the context's executor reaches every probe that trains (and
    # the curvature products); the ladder's losses are equal, the findings the same
    from assistant.autorun import run_automatic
    from assistant.session import Session

    reports, ladders = [], []
    for executor in (ExecutorChoice(), RAY):
        session = Session()
        outcomes = run_automatic(session, ProbeContext(load_setup(TINY), executor=executor))
        reports.append(session.report())
        ladders += [
            [(r["depth"], r["losses"]) for r in o.data["ladder"]] for o in outcomes if o.probe == "depth"
        ]
        assert all(o.data["executor"]["kind"] == executor.kind for o in outcomes if "executor" in o.data)
    here, there = reports
    assert [f.id for f in here.findings] == [f.id for f in there.findings]
    assert here.answers.keys() == there.answers.keys()
    assert {q: a.value for q, a in here.answers.items()} == {q: a.value for q, a in there.answers.items()}
    assert len(ladders) == 2 and ladders[0] == ladders[1]
