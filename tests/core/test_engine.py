"""The durable-rules adapter: isolation between sessions, no session cap, errors surfaced."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant.engine import FlowchartEngine, default_engine
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


def test_engine_exception_is_raised_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FlowchartEngine()

    def broken(rule):
        def run(c):
            raise RuntimeError("boom in action")

        return run

    monkeypatch.setattr(FlowchartEngine, "_action", lambda self, rule: broken(rule))
    broken_engine = FlowchartEngine()
    with pytest.raises(EngineError, match="boom in action"):
        broken_engine.evaluate({"train_loss_large": "yes"})
    # the healthy engine is unaffected and still answers
    assert engine.evaluate({"train_loss_large": "yes"}).asked == ["train_loss_large", "deeper_model_worse"]


def test_engine_state_is_cleared_after_each_evaluation() -> None:
    engine = default_engine()
    engine.evaluate({"train_loss_large": "yes", "deeper_model_worse": "no"})
    # a second evaluation with no answers must not see the first one's facts
    d = engine.evaluate({})
    assert d.findings == [] and d.asked == ["train_loss_large"]
