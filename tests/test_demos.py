"""Every demo is diagnosed to its own leaf by the real CLI, and stays there for other seeds."""

from __future__ import annotations

import pytest
import torch

from assistant.autorun import run_automatic
from assistant.session import Session
from probes.base import ProbeError
from probes.context import ProbeContext
from probes.demos import DEMOS, demo_setup, expected_findings
from probes.setup import Setup, load_any
from tests.conftest import assert_one_line_error, run_cli

# tiny models: one thread is faster than two competing ones on a small shared machine
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
LEAVES = {"model_bias", "optimization_issue", "saddle_point", "overfitting", "mismatch", "healthy"}


def test_every_leaf_has_a_demo():
    reached = {f for demo in DEMOS.values() for f in demo.expected}
    assert LEAVES | {"learning_rate_too_high"} <= reached
    assert set(DEMOS) == LEAVES | {"learning_rate_too_high"}


def test_demo_setup_and_its_errors():
    setup = demo_setup("saddle_point")
    assert isinstance(setup, Setup) and setup.name == "saddle_point"
    assert isinstance(load_any("demo:healthy"), Setup)
    other = demo_setup("healthy", seed=1)
    assert not torch.equal(other.train[0], demo_setup("healthy").train[0])
    with pytest.raises(ProbeError, match="unknown demo 'nope'.*saddle_point"):
        demo_setup("nope")
    with pytest.raises(ProbeError):
        expected_findings("nope")


def test_demos_command_lists_one_line_each(cli):
    run = cli("demos", env=ONE_THREAD)
    assert run.code == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    for name in DEMOS:
        assert sum(line.startswith(name + " ") for line in lines) == 1
    listed = cli("demos", "--json", env=ONE_THREAD).json()
    assert [d["name"] for d in listed] == list(DEMOS)
    assert all(d["expected"] for d in listed)


def test_unknown_demo_is_one_line(cli):
    assert_one_line_error(
        cli("diagnose", "--demo", "nope", "--json", env=ONE_THREAD), "unknown demo", "healthy"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DEMOS))
def test_diagnose_demo_reaches_its_leaf(name):
    run = run_cli("diagnose", "--demo", name, "--json", env=ONE_THREAD)
    assert run.code == 0, run.stderr
    report = run.json()
    assert sorted(f["id"] for f in report["findings"]) == sorted(DEMOS[name].expected)
    assert report["complete"] and not report["pending"]
    for answer in report["answers"].values():
        evidence = answer["evidence"]
        assert answer["source"] == "probe" and evidence["probe"] and evidence["rules"]
    assert run.stderr == ""  # no progress bar when stderr is not a terminal


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", list(DEMOS))
def test_demo_decisions_are_stable_across_seeds(name, seed):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        session = Session()
        run_automatic(session, ProbeContext(demo_setup(name, seed)))
    finally:
        torch.set_num_threads(threads)
    assert sorted(f.id for f in session.report().findings) == sorted(DEMOS[name].expected)
