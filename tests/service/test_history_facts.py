"""POST /sessions/{id}/history takes the facts a file may not show (`classes`, `baseline`) and reads the
history with them, so the training-loss question a history left open can be settled (its `needs`).

Ground truth: a real HF Trainer log (tests/data/real_histories, provenance in its PROVENANCE.md),
MohamedYoussef06 ai201-project3-takemeter: loss 1.096 -> 1.033, no config beside it, so the class count
is not in the file; with 3 classes the guessing loss is ln 3 = 1.0986 and 1.033 is 94% of it: large.
A real server (uvicorn subprocess) on loopback.
"""

from __future__ import annotations

import httpx
import pytest

from assistant.client import TraindocClient
from assistant.errors import InputError
from tests.conftest import REAL_HISTORIES

RUN = next(REAL_HISTORIES.glob("hf_trainer_state/MohamedYoussef06*"))


def test_the_class_count_settles_the_training_loss(spawn_server) -> None:
    srv = spawn_server("--history", f"run={RUN}")
    with TraindocClient(srv.url, token=srv.token) as client:
        session = client.create_session(history="run")
        plain = client.apply_history(session.id, "run")
        assert "train_loss_large" not in plain.report.answers  # the file alone cannot say
        told = client.apply_history(session.id, "run", classes=3)
        answer = told.report.answers["train_loss_large"]
        assert answer.value == "yes" and answer.source == "history"
        with pytest.raises(InputError) as bad:
            client.apply_history(session.id, "run", classes=1)
        assert bad.value.field == "classes"
        assert client.get_session(session.id).inputs == told.inputs  # the refusal changed nothing
        raw = httpx.post(
            f"{srv.url}/sessions/{session.id}/history",
            json={"history": "run", "baseline": -1},
            headers={"Authorization": f"Bearer {srv.token}"},
        )
        assert raw.status_code == 422 and "baseline" in raw.text
