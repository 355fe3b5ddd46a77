"""The rule-engine adapter: the ONLY module that imports `durable`.

Two engines evaluate the same rule data from `rules/` behind one interface (`FlowchartEngine`):
- durable-rules 2.0.28 wherever it imports (Python 3.11, 3.12);
- the pure-Python forward-chaining evaluator (assistant/evaluator.py) where it cannot (Python 3.13+:
  `PyEval_CallObject` is gone and `import durable` fails).
The choice is made when an engine is built (durable is imported then, not with this module);
TRAINDOC_ENGINE=durable|python forces one (tests compare the two).

Durable design (see docs/architecture.md for the defects this sidesteps):
- One fixed ruleset compiled once from `rules.KNOWLEDGE`; never registered dynamically (that leaks).
- A session's inputs are replayed into ONE engine session whose sid our code owns ("0"), under one
  lock, and its state is deleted after every evaluation. So the 1024-sid cap and the 32-bit sid hash
  collisions can never be hit, and user-chosen ids never reach the engine.
- Every question gets an explicit fact (value "unanswered" when nobody answered), which closes the
  world without durable's negation, and every fact kind has a catch-all rule (otherwise durable
  raises MessageNotHandledException, or swallows it inside an action).
- Derived facts never carry an `id` key: durable treats `id` as a fact's identity, so two rules
  concluding the same finding raised MessageObservedException. A finding or question is asserted
  ONCE per evaluation (the first rule to reach it); every further rule that reaches it is still
  recorded as a firing, so the `because` chain names them all.
- Actions only record what they derive; the engine's swallowed exceptions are read back from the
  session state and raised as EngineError, whose message never carries the engine's own text (that
  goes to the log).
- A host subclass without the background dispatcher threads: actions run synchronously inside
  assert_fact, so results exist when it returns.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import itertools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from assistant.errors import EngineError
from assistant.evaluator import Derivation, Derived, PythonEvaluator, canonical, rule_index, rule_target
from rules import KNOWLEDGE, UNANSWERED, Condition, Knowledge, Rule

__all__ = [
    "ENGINE_ENV",
    "Derivation",
    "Derived",
    "DurableEvaluator",
    "FlowchartEngine",
    "default_engine",
    "durable_available",
]

log = logging.getLogger("traindoc.engine")
# the details of an engine failure go to the server's log (configured on "traindoc"); a CLI has
# none, and Python's last-resort handler would print them over the one-line error
log.addHandler(logging.NullHandler())

ENGINE_ENV = "TRAINDOC_ENGINE"
_RULESET = "traindoc_flowchart"
_SID = "0"
# what a user sees when an engine fails: no engine text, no path (the details are logged)
_FAILED = (
    "the rule engine could not evaluate these answers: an internal error of traindoc; "
    "please report it with the answers you gave"
)

# durable is imported when its engine is first chosen, not with this module: TRAINDOC_ENGINE=python
# never loads it (~0.03 s of CPU at start-up, docs/startup.md)
_durable: list[Any] = []  # [the `durable.engine` module or None, why it is None]


def _durable_engine() -> Any:
    """durable's engine module, or None where it cannot be imported."""
    if not _durable:
        try:  # Python 3.13+: the C extension calls PyEval_CallObject, which no longer exists
            from durable import engine
        except Exception as exc:  # ImportError, or an undefined-symbol error raised at load
            _durable.extend([None, f"{type(exc).__name__}: {exc}"])
        else:
            _durable.extend([engine, ""])
    return _durable[0]


def durable_available() -> bool:
    return _durable_engine() is not None


class _Backend(Protocol):
    name: str

    def evaluate(self, answers: Mapping[str, str]) -> Derivation: ...


def _pattern(cond: Condition) -> dict[str, Any]:
    if cond.kind == "finding":
        return {"$and": [{"kind": "finding"}, {"name": cond.id}]}
    value = {"$neq": {"v": cond.value}} if cond.negate else {"v": cond.value}
    return {"$and": [{"kind": "answer"}, {"q": cond.id}, value]}


def _noop(c: Any) -> None:
    return None


class DurableEvaluator:
    """The knowledge base compiled into one durable-rules ruleset."""

    def __init__(self, knowledge: Knowledge) -> None:
        durable_engine = _durable_engine()
        if durable_engine is None:
            raise EngineError(f"durable-rules cannot be imported here ({_durable[1]}); unset {ENGINE_ENV}")

        host: Any = durable_engine.Host  # a module imported at run time: its class is Any to mypy

        class _QuietHost(host):
            def _run(self) -> None:  # no dispatcher/timer threads: we use neither events nor timers
                return None

        self.knowledge = knowledge
        self.name = f"durable-rules {importlib.metadata.version('durable-rules')}"
        self._lock = threading.Lock()
        self._current: list[Derived] | None = None
        self._asserted: set[tuple[str, str]] = set()
        self._index = rule_index(knowledge)
        self._host = _QuietHost({_RULESET: self._compile(knowledge.rules)})

    def _compile(self, rules: tuple[Rule, ...]) -> dict[str, Any]:
        definition: dict[str, Any] = {}
        for rule in rules:
            patterns = [{f"p{i}": _pattern(c)} for i, c in enumerate(rule.when)]
            if not patterns:
                patterns = [{"p0": {"kind": "start"}}]
            definition[rule.name] = {"all": patterns, "run": self._action(rule)}
        # catch-alls: durable refuses a fact that no rule mentions
        for kind in ("start", "answer", "finding", "ask"):
            definition[f"_seen_{kind}"] = {"all": [{"m": {"kind": kind}}], "run": _noop}
        return definition

    def _action(self, rule: Rule) -> Callable[[Any], None]:
        kind, target = rule_target(rule)

        def run(c: Any) -> None:
            matched = [dict(v) for v in (c._m or {}).values()]
            answers = {m["q"]: m["v"] for m in matched if m.get("kind") == "answer"}
            findings = tuple(m["name"] for m in matched if m.get("kind") == "finding")
            assert self._current is not None
            self._current.append(Derived(rule.name, kind, target, answers, findings))
            if (kind, target) not in self._asserted:  # once: later rules reaching it only record
                self._asserted.add((kind, target))
                c.assert_fact({"kind": kind, "name": target})

        return run

    def evaluate(self, answers: Mapping[str, str]) -> Derivation:
        facts = [{"sid": _SID, "kind": "start"}]
        facts += [
            {"sid": _SID, "kind": "answer", "q": qid, "v": answers.get(qid, UNANSWERED)}
            for qid in self.knowledge.questions
        ]
        with self._lock:
            self._current, self._asserted = [], set()
            try:
                for fact in facts:
                    self._host.assert_fact(_RULESET, fact)
                state = self._host.get_state(_RULESET, _SID)
                if "exception" in state:
                    log.error("rule engine failed on %s: %s", dict(answers), state["exception"])
                    raise EngineError(_FAILED)
                return canonical(self.knowledge, self._current, self._index)
            except EngineError:
                raise
            except Exception as exc:  # the C extension raises plain errors
                log.exception("rule engine failed on %s", dict(answers))
                raise EngineError(_FAILED) from exc
            finally:
                self._current = None
                with contextlib.suppress(Exception):  # no state exists if the first fact failed
                    self._host.delete_state(_RULESET, _SID)


def _choose(knowledge: Knowledge, engine: str | None) -> _Backend:
    choice = (engine or os.environ.get(ENGINE_ENV, "") or "auto").strip().lower()
    if choice not in ("auto", "durable", "python"):
        raise EngineError(
            f"{ENGINE_ENV} must be durable or python (got {choice!r}); unset it to choose automatically"
        )
    if choice == "python" or (choice == "auto" and not durable_available()):
        return PythonEvaluator(knowledge)
    return DurableEvaluator(knowledge)


class FlowchartEngine:
    """Evaluates answers against the knowledge base, with whichever engine runs here. Thread-safe."""

    def __init__(
        self, knowledge: Knowledge = KNOWLEDGE, cache_size: int = 4096, engine: str | None = None
    ) -> None:
        self.knowledge = knowledge
        self._questions = tuple(knowledge.questions)
        self._backend = _choose(knowledge, engine)
        self._evaluate_cached = functools.lru_cache(maxsize=cache_size)(self._evaluate)

    @property
    def name(self) -> str:
        """Which engine ran: "durable-rules 2.0.28" or "python" (the report's `engine` key)."""
        return self._backend.name

    def evaluate(self, answers: Mapping[str, str]) -> Derivation:
        """The derivation from `answers` (question id -> yes/no/unsure; absent = unanswered).

        The derivation is a pure function of the answers, and there are few distinct answer sets
        (a handful of questions, four values each), so results are memoized per engine.
        """
        key = tuple(map(answers.get, self._questions, itertools.repeat(UNANSWERED)))
        return self._evaluate_cached(key)

    def _evaluate(self, key: tuple[str, ...]) -> Derivation:
        answers = dict(zip(self._questions, key, strict=True))
        try:
            return self._backend.evaluate(answers)
        except EngineError:
            raise
        except Exception as exc:  # a bug in an evaluator: never its text or a traceback to a user
            log.exception("rule engine failed on %s", answers)
            raise EngineError(_FAILED) from exc


_default: FlowchartEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> FlowchartEngine:
    """The process-wide engine (one ruleset registration per process: registering more leaks)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = FlowchartEngine()
        return _default
