"""Typed probe results (issue 13): every real probe's JSON validates against `traindoc schema --kind
probes`, `probe --json` and `history --json` print the same object, and the old keys are kept.

Ground truth: the probes run for real (PyTorch training on a demo and on the tiny regression setup; the
history reader on a real Keras log from tests/data/real_histories); the schema is what the real
`traindoc schema` command prints, checked with the independent `jsonschema` validator; the old
`probe --json` object is rebuilt in this test by the formula the CLI used before (data's keys, then
answers, summary, rules, warnings, seconds).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from assistant.cli import main
from probes.base import ProbeOutcome
from probes.context import ProbeContext
from probes.demos import demo_setup
from probes.registry import run_probe
from probes.results import RESULTS, outcome_json
from tests.conftest import REPO

TINY = REPO / "tests" / "probes" / "setups" / "tiny_regression.py"
KERAS_LOG = next((REPO / "tests" / "data" / "real_histories" / "keras_csv").glob("*training.log"))
OUTCOME_FIELDS = ["probe", "answers", "summary", "rules", "data", "warnings", "seconds"]


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["schema", "--kind", "probes"]) == 0
    return json.loads(out.getvalue())


def check(schema: dict[str, Any], probe: str, data: dict[str, Any]) -> None:
    """Validate one probe's data against its part of the printed schema (shared parts in $defs)."""
    one = {**schema["properties"][probe], "$defs": schema.get("$defs", {})}
    jsonschema.validate(data, one, cls=jsonschema.Draft202012Validator)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, ProbeOutcome]:
    """Small real runs: one demo context (trained once, shared), the depth ladder on the tiny setup."""
    import torch

    torch.set_num_threads(1)
    setup = demo_setup("overfitting")
    setup = setup.model_copy(update={"steps": min(setup.steps, 150)})
    ctx = ProbeContext(setup)
    found = {
        "baselines": run_probe("baselines", ctx),
        "generalization": run_probe("generalization", ctx),
        "curvature": run_probe("curvature", ctx, samples=128, per_layer=True, density=True, goal="accurate"),
        "learning_rate": run_probe("learning_rate", ctx, samples=128, max_hvp=12),
    }
    from probes.setup import load_checked

    tiny = load_checked(f"{TINY}:setup").model_copy(update={"steps": 30})
    found["depth"] = run_probe("depth", ProbeContext(tiny), depths="1,2", seeds=1)
    from probes.history import history_outcome

    found["history"] = history_outcome(str(KERAS_LOG))
    return found


def test_schema_names_every_probe(schema: dict[str, Any]) -> None:
    from probes.registry import PROBES

    assert set(schema["properties"]) == set(PROBES) | {"history"} == set(RESULTS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "probe", ["baselines", "generalization", "curvature", "learning_rate", "depth", "history"]
)
def test_real_result_validates_against_printed_schema(
    probe: str, outcomes: dict[str, ProbeOutcome], schema: dict[str, Any]
) -> None:
    outcome = outcomes[probe]
    payload = json.loads(json.dumps(outcome_json(outcome)))
    check(schema, probe, payload["data"])
    # the typed view holds the same JSON the probe wrote: nothing dropped, nothing renamed
    assert outcome.result is not None
    assert outcome.result.model_dump(mode="json", exclude_unset=True) == payload["data"]
    # one shape: the outcome's fields, and data's keys also at the top (where probe --json had them)
    assert list(payload)[-len(OUTCOME_FIELDS) :] == OUTCOME_FIELDS
    for key, value in payload["data"].items():
        if key not in OUTCOME_FIELDS:
            assert payload[key] == value, key


@pytest.mark.slow
def test_per_layer_and_density_are_filled(outcomes: dict[str, ProbeOutcome]) -> None:
    result = outcomes["curvature"].result
    assert result.layers and result.density is not None
    assert result.classification in {
        "not_at_critical_point",
        "saddle_point",
        "local_minimum_like",
        "undetermined",
    }


@pytest.mark.slow
def test_schema_rejects_wrong_types(schema: dict[str, Any], outcomes: dict[str, ProbeOutcome]) -> None:
    """The check above could fail: a number written as text, or a missing key, is refused."""
    data = json.loads(json.dumps(outcomes["curvature"].data))
    bad = {**data, "lambda_max": "large"}
    with pytest.raises(jsonschema.ValidationError):
        check(schema, "curvature", bad)
    with pytest.raises(ValidationError):
        ProbeOutcome(probe="curvature", data=bad)
    missing = {k: v for k, v in data.items() if k != "classification"}
    with pytest.raises(jsonschema.ValidationError):
        check(schema, "curvature", missing)
    with pytest.raises(ValidationError):
        ProbeOutcome(probe="baselines", data={"task": "regression", "samples": "many"})


def test_unknown_probe_and_added_keys_pass_through() -> None:
    """A probe without a model stays untyped; a key a newer probe adds is kept, not dropped."""
    assert ProbeOutcome(probe="watch", data={"anything": 1}).result is None
    hist = ProbeOutcome(probe="history", data={"source": "x.csv", "format": "csv", "new_key": [1]})
    assert hist.result.model_dump(mode="json", exclude_unset=True)["new_key"] == [1]


def test_probe_json_keeps_the_old_object(capsys: pytest.CaptureFixture[str]) -> None:
    """`traindoc probe NAME --json`: the object it printed before, plus `probe` and `data`."""
    payload = cli_json(
        capsys, "probe", "baselines", "--setup", f"{TINY}:setup", "--json", "--progress", "never"
    )
    data = payload["data"]
    old = {**data, **{k: payload[k] for k in ("answers", "summary", "rules", "warnings", "seconds")}}
    assert {k: payload[k] for k in old} == old
    assert set(payload) - set(old) == {"probe", "data"}
    assert payload["probe"] == "baselines"


def test_history_json_is_the_same_shape_as_probe_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`traindoc history --json`: the outcome as before (probe, answers, ..., data) with the same
    top-level copy of data's keys as `probe --json`; the old nested object is unchanged."""
    payload = cli_json(capsys, "history", str(KERAS_LOG), "--json")
    assert list(payload)[-len(OUTCOME_FIELDS) :] == OUTCOME_FIELDS
    assert payload["probe"] == "history"
    assert payload["source"] == payload["data"]["source"] == str(KERAS_LOG)
    assert payload["curves"] == payload["data"]["curves"]
    # a shared name holds the outcome's value on top (as before) and the reader's in data
    assert set(payload["data"]["warnings"]) <= set(payload["warnings"])


def test_openapi_kind_prints_the_service_document(capsys: pytest.CaptureFixture[str]) -> None:
    doc = cli_json(capsys, "schema", "--kind", "openapi")
    assert doc["openapi"].startswith("3.") and "/sessions" in doc["paths"]


def test_report_schema_unchanged_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.models import Report

    assert cli_json(capsys, "schema") == Report.model_json_schema()
