"""The advice after a failed probe is chosen by the job's error code, never by its message's words.

Ground truth: what each failure means for the user, written here by hand (out of memory -> lower
`batch_size`; diverged -> lower the learning rate; timed out -> lower `steps`; model, data and loss
that do not fit -> check the shapes); every other code gets the generic advice. Exhaustive over codes.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from probes.setup import Setup, check_setup
from probes.training import checked_loss
from traindoc.errors import CODES, HTTP_ERROR, INTERNAL_ERROR, ProbeError, SetupMismatch
from tui.failures import GENERIC, advice_for, probe_failed_markdown

SPECIFIC = {
    "out_of_memory": "lower `batch_size`",
    "training_diverged": "lower the learning rate",
    "job_timed_out": "lower `steps`",
    "setup_mismatch": "check the shapes",
}


@pytest.mark.parametrize("code", sorted({*CODES, INTERNAL_ERROR, HTTP_ERROR, "a_future_code"}) + [None])
def test_every_code_gets_its_advice_and_only_its_own(code: str | None) -> None:
    advice = advice_for(code)
    if code in SPECIFIC:
        assert SPECIFIC[code] in advice and advice != GENERIC
        assert all(other not in advice for c, other in SPECIFIC.items() if c != code)
    else:
        assert advice == GENERIC


def test_the_words_of_a_message_do_not_choose_the_advice() -> None:
    """A message that SAYS "out of memory" but is a plain probe failure gets the generic advice, and a
    diverged run whose message never says so gets the divergence advice."""
    said = probe_failed_markdown("depth", "the user's own code printed 'CUDA out of memory'", "probe_failed")
    assert GENERIC in said and "lower `batch_size`" not in said
    said = probe_failed_markdown("depth", "loss became 1e39 at step 7", "training_diverged")
    assert "lower the learning rate" in said


def _mlp(depth: int) -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def test_a_real_shape_mismatch_is_a_setup_mismatch() -> None:
    """torch itself refuses these (mat1 and mat2 shapes; a 3-class output against 1-column float
    targets for MSE broadcasts, which the setup check refuses); both are the mismatch code."""
    model = _mlp(1)
    with pytest.raises(SetupMismatch) as forward:
        checked_loss(model, nn.functional.cross_entropy, torch.randn(5, 7), torch.zeros(5, dtype=torch.long))
    assert forward.value.code == "setup_mismatch" and isinstance(forward.value, ProbeError)
    setup = Setup(
        model=_mlp,
        depth=1,
        train=(torch.randn(16, 4), torch.randn(16, 1)),
        loss=nn.functional.mse_loss,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        steps=1,
        batch_size=8,
    )
    with pytest.raises(SetupMismatch) as broadcast:
        check_setup(setup, "mismatched")
    assert broadcast.value.field == "setup"
