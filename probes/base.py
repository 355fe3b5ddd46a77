"""What every probe shares: progress reports, stop checks, and the outcome a probe hands the session.

Probes are stateless computations: a request in, a result out. They never print; they report progress
through a callback and check `should_stop()` between iterations. Non-convergence is data, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from rules.schema import AnswerValue  # the one definition of the answer values

# the probes' errors live under traindoc's one root (traindoc/errors.py); `from probes.base import
# ProbeError` is a contract, so they are re-exported here (`X as X`: an explicit re-export)
from traindoc.errors import ProbeCancelled as ProbeCancelled
from traindoc.errors import ProbeError as ProbeError
from traindoc.errors import ProbeOutOfMemory as ProbeOutOfMemory
from traindoc.errors import SetupMismatch as SetupMismatch
from traindoc.errors import TrainingDiverged as TrainingDiverged


class ProbeProgress(BaseModel):
    probe: str
    done: int
    total: int
    message: str = ""
    estimate: dict[str, float] = Field(default_factory=dict, description="current estimates, e.g. lambda_max")
    series: str | None = Field(None, description="name of the curve this point belongs to (e.g. 'depth 3')")


ProgressCallback = Callable[[ProbeProgress], None]
StopCheck = Callable[[], bool]


def no_progress(_: ProbeProgress) -> None:
    return None


def never_stop() -> bool:
    return False


class ProbeOutcome(BaseModel):
    """What a probe concludes for the flowchart, with the evidence behind it.

    `answers` maps question ids (see rules/questions.py) to yes/no/unsure; `rules` states each decision
    rule with its numbers; `data` is the probe's full result (plain numbers, JSON-safe), checked
    against the probe's result model (probes/results.py) when the outcome is built; `result` is the
    same data typed.
    """

    probe: str
    answers: dict[str, AnswerValue] = Field(default_factory=dict)
    summary: str = ""
    rules: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    _result: BaseModel | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _typed_data(self) -> ProbeOutcome:
        # `data` stays the dict the probe wrote (its JSON is the contract, byte for byte); the typed
        # model checks it here once, so a wrong key type fails where the probe builds it
        from probes.results import result_model

        model = result_model(self.probe)
        if model is not None and self.data:
            self._result = model.model_validate(self.data)
        return self

    @property
    def result(self) -> Any:
        """`data` as the probe's result model (probes/results.py), None for a probe without one."""
        return self._result
