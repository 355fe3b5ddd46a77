"""What a watched run is warned about: one Alert per rule firing, with the step and the numbers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

AlertKind = Literal[
    "diverged",  # NaN / inf / blow-up of the training loss
    "spike",  # a loss spike, with the learning rate at the time
    "plateau",  # the training loss stopped falling while still near the trivial loss
    "overfitting",  # the held-out loss rose past its best: early stopping would keep that step
    "edge_of_stability",  # lambda_max reached the optimizer's stability threshold
    "curvature_unavailable",  # the model has no second derivative here (measured once, then off)
]


class Alert(BaseModel):
    kind: AlertKind
    step: float | None = Field(None, description="the training step the alert is about")
    message: str = Field(description="one line for the framework's log")
    data: dict[str, Any] = Field(default_factory=dict)
