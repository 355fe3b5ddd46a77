"""The trainings' executor without Ray: the one check of --executor/--workers, the local executor,
and the command lines that take the option (real subprocesses). The Ray runs are in
test_trainings_ray.py (skipped without Ray)."""

from __future__ import annotations

import json

import pytest

from probes.base import ProbeCancelled, ProbeError, TrainingDiverged
from probes.curvature.options import CurvatureOptions
from probes.executor_options import ExecutorChoice, check_executor
from probes.setup import load_setup
from probes.training import TrainedModel, train_model
from probes.trainings import Training, run_trainings, setup_training
from tests.conftest import assert_one_line_error, run_cli
from tests.probes.conftest import SETUPS

TINY = f"{SETUPS}/tiny_regression.py:setup"
ENV = {"TRAINDOC_THREADS": "1"}

GOOD = {
    None: ExecutorChoice("local", None, None),
    "local": ExecutorChoice("local", None, None),
    "ray": ExecutorChoice("ray", None, None),
    " ray ": ExecutorChoice("ray", None, None),
    "ray://head:10001": ExecutorChoice("ray", "ray://head:10001", None),
    "ray://10.0.0.7:6379": ExecutorChoice("ray", "ray://10.0.0.7:6379", None),
}
BAD = ["rai", "Ray", "ray:/host", "ray://", "ray://host", "ray://:10001", "ray://host:port", "cluster", ""]


@pytest.mark.parametrize("given", list(GOOD))
def test_the_executor_words_and_addresses(given: str | None) -> None:
    assert check_executor(given) == GOOD[given]


@pytest.mark.parametrize("given", BAD)
def test_a_bad_executor_is_one_line_naming_the_field_and_curvature_says_the_same(given: str) -> None:
    if given == "":  # an empty --executor is the default, not an error
        assert check_executor(given).is_local
        return
    with pytest.raises(ProbeError) as caught:
        check_executor(given)
    assert caught.value.field == "executor" and "ray://HOST:PORT" in caught.value.message
    with pytest.raises(ProbeError) as curvature:  # the curvature probe's option: the same check
        CurvatureOptions(executor=given).validate()
    assert curvature.value.message == caught.value.message


@pytest.mark.parametrize("workers", [0, -1, True])
def test_workers_must_be_positive(workers: int) -> None:
    with pytest.raises(ProbeError) as caught:
        check_executor("ray", workers)
    assert caught.value.field == "workers"


def test_the_local_executor_is_todays_training_in_order_with_errors_as_data() -> None:
    setup = load_setup(TINY)
    done: list[int] = []
    broken = setup.model_copy(update={"model": lambda depth: "not a module"})
    bad = Training("broken", train_model, (broken,), {"depth": 2})
    trainings = [
        setup_training(setup, "d1", depth=1, seed=0),
        bad,
        setup_training(setup, "d2", depth=2, seed=1),
    ]
    results = run_trainings(trainings, ExecutorChoice(), done=lambda i, t, r: done.append(i))
    assert done == [0, 1, 2]
    assert isinstance(results[0], TrainedModel) and isinstance(results[2], TrainedModel)
    assert isinstance(results[1], ProbeError) and not isinstance(results[1], ProbeCancelled)
    # the ground truth: the same call made directly
    direct = train_model(setup, 2, seed=1)
    assert results[2].step_losses == direct.step_losses


def test_a_stop_before_a_training_cancels_the_rest() -> None:
    setup = load_setup(TINY)
    asked = iter([False, True])
    trainings = [setup_training(setup, f"d{d}", depth=d) for d in (1, 2, 3)]
    with pytest.raises(ProbeCancelled):
        run_trainings(trainings, ExecutorChoice(), should_stop=lambda: next(asked, True))


def test_a_diverged_training_keeps_its_class() -> None:
    def blow_up(**_: object) -> None:
        raise TrainingDiverged("the loss turned nan at step 0")

    (result,) = run_trainings([Training("x", blow_up)], ExecutorChoice())
    assert isinstance(result, TrainingDiverged)


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ("probe", "depth", "--setup", TINY),
        ("probe", "generalization", "--setup", TINY),
        ("remedies", "--setup", TINY),
        ("diagnose", "--setup", TINY),
    ],
    ids=["depth", "generalization", "remedies", "diagnose"],
)
def test_every_command_refuses_a_bad_executor_in_one_line(command: tuple[str, ...]) -> None:
    assert_one_line_error(
        run_cli(*command, "--executor", "ray:/head", env=ENV), "executor", "ray://HOST:PORT"
    )


@pytest.mark.slow
def test_bad_workers_and_executor_without_a_setup_are_one_line() -> None:
    assert_one_line_error(run_cli("probe", "depth", "--setup", TINY, "--workers", "0", env=ENV), "workers")
    run = run_cli("diagnose", "--answers", "/dev/null", "--executor", "ray", env=ENV)
    assert_one_line_error(run, "--executor", "--setup")


@pytest.mark.slow
def test_the_json_says_which_executor_ran() -> None:
    run = run_cli("probe", "depth", "--setup", TINY, "--seeds", "1", "--json", env=ENV)
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["executor"] == {"kind": "local", "address": None, "workers": 1}
