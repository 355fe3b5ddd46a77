"""The durable-rules adapter: the ONLY module that imports `durable`.

Design (see ../shared/knowledge/stack-notes.md for the defects this sidesteps):
- One fixed ruleset compiled once from `rules.KNOWLEDGE`; never registered dynamically (that leaks).
- A session's inputs are replayed into ONE engine session whose sid our code owns ("0"), under one
  lock, and its state is deleted after every evaluation. So the 1024-sid cap and the 32-bit sid hash
  collisions can never be hit, and user-chosen ids never reach the engine.
- Every question gets an explicit fact (value "unanswered" when nobody answered), which closes the
  world without durable's negation, and every fact kind has a catch-all rule (otherwise durable
  raises MessageNotHandledException, or swallows it inside an action).
- Actions only record what they derive; the engine's swallowed exceptions are read back from the
  session state and raised as EngineError.
- A host subclass without the background dispatcher threads: actions run synchronously inside
  assert_fact, so results exist when it returns.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from durable import engine as durable_engine

from assistant.errors import EngineError
from rules import KNOWLEDGE, UNANSWERED, Ask, Condition, Knowledge, Rule

_RULESET = "traindoc_flowchart"
_SID = "0"


@dataclass(frozen=True)
class Derived:
    """One rule firing: what it concluded or asked, and the premises it matched."""

    rule: str
    kind: str  # "ask" or "finding"
    target: str
    answers: dict[str, str]
    findings: tuple[str, ...]


@dataclass(frozen=True)
class Derivation:
    """Everything the flowchart concludes from a set of answers (immutable: results are cached)."""

    firings: tuple[Derived, ...] = ()

    @property
    def asked(self) -> list[str]:
        seen: list[str] = []
        for f in self.firings:
            if f.kind == "ask" and f.target not in seen:
                seen.append(f.target)
        return seen

    @property
    def findings(self) -> list[str]:
        seen: list[str] = []
        for f in self.firings:
            if f.kind == "finding" and f.target not in seen:
                seen.append(f.target)
        return seen

    def chain(self, finding_id: str) -> list[Derived]:
        """The rule firings that led to `finding_id`, root first (the explanation trace)."""
        out: list[Derived] = []

        def visit(fid: str) -> None:
            for f in self.firings:
                if f.kind == "finding" and f.target == fid:
                    for earlier in f.findings:
                        visit(earlier)
                    if f not in out:
                        out.append(f)
                    return  # the first firing that reached it is the reason

        visit(finding_id)
        # the question-asking rules whose questions this chain used, for a complete story
        used = {q for f in out for q in f.answers}
        asks = [f for f in self.firings if f.kind == "ask" and f.target in used and f not in out]
        return sorted(asks + out, key=self.firings.index)


class _QuietHost(durable_engine.Host):
    def _run(self) -> None:  # no dispatcher/timer threads: we use neither events nor timers
        return None


def _pattern(cond: Condition) -> dict[str, Any]:
    if cond.kind == "finding":
        return {"$and": [{"kind": "finding"}, {"id": cond.id}]}
    value = {"$neq": {"v": cond.value}} if cond.negate else {"v": cond.value}
    return {"$and": [{"kind": "answer"}, {"q": cond.id}, value]}


class FlowchartEngine:
    """Evaluates answers against the knowledge base. Thread-safe through one lock."""

    def __init__(self, knowledge: Knowledge = KNOWLEDGE, cache_size: int = 4096) -> None:
        self.knowledge = knowledge
        self._lock = threading.Lock()
        self._current: list[Derived] | None = None
        self._host = _QuietHost({_RULESET: self._compile(knowledge.rules)})
        self._evaluate_cached = functools.lru_cache(maxsize=cache_size)(self._evaluate)

    def _compile(self, rules: tuple[Rule, ...]) -> dict[str, Any]:
        definition: dict[str, Any] = {}
        for rule in rules:
            conds = rule.when or ()
            patterns = [{f"p{i}": _pattern(c)} for i, c in enumerate(conds)]
            if not patterns:
                patterns = [{"p0": {"kind": "start"}}]
            definition[rule.name] = {"all": patterns, "run": self._action(rule)}
        # catch-alls: durable refuses a fact that no rule mentions
        for kind in ("start", "answer", "finding", "ask"):
            definition[f"_seen_{kind}"] = {"all": [{"m": {"kind": kind}}], "run": _noop}
        return definition

    def _action(self, rule: Rule) -> Callable[[Any], None]:
        target_is_ask = isinstance(rule.then, Ask)
        target = rule.then.question if isinstance(rule.then, Ask) else rule.then.finding

        def run(c: Any) -> None:
            matched = [dict(v) for v in (c._m or {}).values()]
            answers = {m["q"]: m["v"] for m in matched if m.get("kind") == "answer"}
            findings = tuple(m["id"] for m in matched if m.get("kind") == "finding")
            assert self._current is not None
            self._current.append(
                Derived(rule.name, "ask" if target_is_ask else "finding", target, answers, findings)
            )
            # rule name keeps facts distinct when two rules reach the same conclusion
            kind = "ask" if target_is_ask else "finding"
            c.assert_fact({"kind": kind, "id": target, "by": rule.name})

        return run

    def evaluate(self, answers: Mapping[str, str]) -> Derivation:
        """Replay `answers` (question id -> yes/no/unsure) into a fresh engine session.

        The derivation is a pure function of the answers, and there are few distinct answer sets
        (a handful of questions, four values each), so results are memoized per engine.
        """
        key = tuple((qid, answers.get(qid, UNANSWERED)) for qid in self.knowledge.questions)
        return self._evaluate_cached(key)

    def _evaluate(self, key: tuple[tuple[str, str], ...]) -> Derivation:
        facts = [{"sid": _SID, "kind": "start"}]
        facts += [{"sid": _SID, "kind": "answer", "q": qid, "v": value} for qid, value in key]
        with self._lock:
            self._current = []
            try:
                for fact in facts:
                    self._host.assert_fact(_RULESET, fact)
                state = self._host.get_state(_RULESET, _SID)
                if "exception" in state:
                    raise EngineError(f"rule engine failed: {str(state['exception'])[:300]}")
                return Derivation(firings=tuple(self._current))
            except EngineError:
                raise
            except Exception as exc:  # the C extension raises plain errors
                raise EngineError(f"rule engine failed: {exc}") from exc
            finally:
                self._current = None
                with contextlib.suppress(Exception):  # no state exists if the first fact failed
                    self._host.delete_state(_RULESET, _SID)


def _noop(c: Any) -> None:
    return None


_default: FlowchartEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> FlowchartEngine:
    """The process-wide engine (one ruleset registration per process: registering more leaks)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = FlowchartEngine()
        return _default
