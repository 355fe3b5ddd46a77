"""The durable-rules adapter: isolation between sessions, no session cap, errors surfaced."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant.engine import ENGINE_ENV, DurableEvaluator, FlowchartEngine, default_engine, durable_available
from assistant.errors import EngineError
from assistant.session import Session
from tests.core.test_flowchart import LEAVES

COMPLETE = [(a, f) for a, f, p in LEAVES if not p]


def test_colliding_sids_never_share_facts() -> None:
    # durable hashes sids to 32 bits: these two collide inside the engine. Ours never reach it.
    a = Session("user-129599")
    b = Session("user-732382")
    a.load_answers({"train_loss_large": "yes", "deeper_model_worse": "no"})
    b.load_answers({"train_loss_large": "no", "test_loss_large": "yes", "val_loss_large": "no"})
    assert [f.id for f in a.report().findings] == ["model_bias"]
    assert [f.id for f in b.report().findings] == ["mismatch"]
    assert set(a.report().answers) == {"train_loss_large", "deeper_model_worse"}


def test_thousand_concurrent_sessions_each_see_only_their_answers() -> None:
    rng = random.Random(7)
    plan = [(f"user-{i}", *rng.choice(COMPLETE)) for i in range(1000)]
    # include the known durable collision pair among them
    plan[0] = ("user-129599", *COMPLETE[0])
    plan[1] = ("user-732382", *COMPLETE[-1])
    engine = FlowchartEngine(cache_size=0)  # every evaluation really goes through durable
    sessions = {sid: Session(sid, engine=engine) for sid, _, _ in plan}
    barrier = threading.Barrier(8)

    def work(chunk: list) -> list[str]:
        barrier.wait()
        errors = []
        for _ in range(2):  # evaluate each twice, interleaved with the other threads
            for sid, answers, findings in chunk:
                s = sessions[sid]
                if not s.inputs:
                    s.load_answers(answers)
                report = s.report()
                if {f.id for f in report.findings} != findings or set(report.answers) != set(answers):
                    errors.append(sid)
        return errors

    chunks = [plan[i::8] for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        failures = [e for errs in pool.map(work, chunks) for e in errs]
    assert failures == []


@pytest.mark.skipif(not durable_available(), reason="durable-rules does not import on this Python")
def test_engine_exception_is_raised_not_swallowed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = FlowchartEngine(engine="durable")

    def broken(self, rule):
        def run(c):
            raise RuntimeError("boom in action at /srv/secret/site-packages/durable/engine.py")

        return run

    monkeypatch.setattr(DurableEvaluator, "_action", broken)
    broken_engine = FlowchartEngine(engine="durable")
    with pytest.raises(EngineError) as raised:
        broken_engine.evaluate({"train_loss_large": "yes"})
    # the user's message carries neither the engine's text nor a path; the log keeps the details
    message = raised.value.message
    assert "rule engine could not evaluate" in message and "\n" not in message
    assert "boom" not in message and "/srv" not in message and "durable/" not in message
    assert "boom in action" in caplog.text
    # the healthy engine is unaffected and still answers
    assert engine.evaluate({"train_loss_large": "yes"}).asked == ["train_loss_large", "deeper_model_worse"]


def test_two_rules_concluding_one_finding_are_both_recorded() -> None:
    # crashed durable with MessageObservedException before issue 10 (a fact's `id` is its identity)
    answers = {"train_loss_large": "yes", "deeper_model_worse": "yes", "simple_model_better": "yes"}
    for name in ("durable", "python") if durable_available() else ("python",):
        d = FlowchartEngine(engine=name, cache_size=0).evaluate(answers)
        assert d.findings == ["optimization_issue"]
        assert [f.rule for f in d.concluded_by("optimization_issue")] == [
            "deeper_worse_means_optimization",
            "simple_model_better_means_optimization",
        ]
        chain = [f.rule for f in d.chain("optimization_issue")]
        assert chain == [
            "start_with_training_loss",
            "large_training_loss_compare_depths",
            "deeper_worse_means_optimization",
            "simple_model_better_means_optimization",
        ]
        # the question after the finding is asked once, not once per concluding rule
        assert d.asked.count("gradient_norm_small") == 1
        assert [f.rule for f in d.firings].count("optimization_check_gradient") == 1


def test_engine_choice_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENGINE_ENV, "python")
    assert FlowchartEngine().name == "python"
    monkeypatch.setenv(ENGINE_ENV, "bogus")
    with pytest.raises(EngineError, match="TRAINDOC_ENGINE must be durable or python"):
        FlowchartEngine()
    monkeypatch.delenv(ENGINE_ENV)
    expected = "durable-rules 2.0.28" if durable_available() else "python"
    assert FlowchartEngine().name == expected
    s = Session(engine=FlowchartEngine(engine="python"))
    assert s.report().engine == "python"


def test_engine_state_is_cleared_after_each_evaluation() -> None:
    engine = default_engine()
    engine.evaluate({"train_loss_large": "yes", "deeper_model_worse": "no"})
    # a second evaluation with no answers must not see the first one's facts
    d = engine.evaluate({})
    assert d.findings == [] and d.asked == ["train_loss_large"]
