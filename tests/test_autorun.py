"""The automatic diagnosis: only the probes the path needs, user answers win, failures become notes."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from assistant.autorun import next_probe, run_automatic
from assistant.models import AnswerSource
from assistant.session import Session
from probes.base import ProbeCancelled
from probes.context import ProbeContext
from probes.demos import demo_setup, mlp
from probes.setup import Setup

# tiny models train faster on one thread than on two contended ones
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blobs(n: int, gen: torch.Generator, shift: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    centers = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [2.0, -2.0], [-2.0, -2.0]])
    y = torch.randint(0, 4, (n,), generator=gen)
    return centers[y] + 0.7 * torch.randn(n, 2, generator=gen) + shift, y


def xor(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 2, generator=gen)
    return x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).long()


def classifier(train, depth: int = 1, classes: int = 4, **extra) -> Setup:
    return Setup(
        model=lambda d: mlp(2, classes, 32, d),
        depth=depth,
        train=train,
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
        steps=250,
        **extra,
    )


def diagnose(setup: Setup, answers: dict[str, str] | None = None) -> tuple[Session, ProbeContext, list[str]]:
    session = Session()
    for qid, value in (answers or {}).items():
        session.answer(qid, value, strict=False)
    ctx = ProbeContext(setup)
    outcomes = run_automatic(session, ctx)
    return session, ctx, [o.probe for o in outcomes]


def findings(session: Session) -> list[str]:
    return [f.id for f in session.report().findings]


def test_classification_that_fits_and_generalises_is_healthy():
    gen = torch.Generator().manual_seed(0)
    setup = classifier(blobs(800, gen), val=blobs(200, gen), test=blobs(400, gen))
    session, ctx, probes = diagnose(setup)
    assert findings(session) == ["healthy"]
    assert probes == ["baselines", "generalization"]  # no depth ladder, no curvature on this path
    assert ctx.trainings == 1
    evidence = session.report().answers["train_loss_large"].evidence
    assert evidence is not None and evidence.data["task"] == "classification"


def test_linear_classifier_on_xor_is_model_bias():
    gen = torch.Generator().manual_seed(1)
    session, ctx, probes = diagnose(classifier(xor(800, gen), depth=0, classes=2, test=xor(300, gen)))
    assert findings(session) == ["model_bias"]
    # the run plateaus at a large loss, so the learning-rate check runs (on the recorded run: no
    # extra training); Adam at a plateau far from any spike is not called too high
    assert probes == ["baselines", "learning_rate", "depth"]
    assert session.report().answers["learning_rate_exceeds_stability"].value != "yes"
    assert ctx.trainings == 4  # depths 0 and 1, two seeds each, the user's model among them


def test_dataloader_setup_with_shifted_test_inputs_is_mismatch():
    gen = torch.Generator().manual_seed(2)
    loader = DataLoader(TensorDataset(*blobs(800, gen)), batch_size=32, shuffle=True)
    session, ctx, _ = diagnose(classifier(loader, test=blobs(300, gen, shift=3.0)))
    assert findings(session) == ["mismatch"]
    report = session.report()
    assert report.answers["val_loss_large"].evidence.data["two_sample"]["shifted"]
    assert ctx.trainings == 2  # the user's model and the 80% hold-out retraining


def test_user_answers_win_and_skip_the_probe():
    gen = torch.Generator().manual_seed(3)
    setup = classifier(blobs(600, gen), test=blobs(200, gen))
    session, _, probes = diagnose(setup, {"train_loss_large": "yes"})
    assert "baselines" not in probes and probes[0] == "depth"
    answer = session.report().answers["train_loss_large"]
    assert answer.value == "yes" and answer.source == AnswerSource.user


def test_an_unsure_user_answer_is_measured():
    gen = torch.Generator().manual_seed(4)
    setup = classifier(blobs(600, gen), test=blobs(200, gen))
    session, _, probes = diagnose(setup, {"train_loss_large": "unsure"})
    assert probes[0] == "baselines"
    assert session.report().answers["train_loss_large"].source == AnswerSource.probe
    assert findings(session) == ["healthy"]


def test_a_probe_that_cannot_run_leaves_a_note_and_the_question_open():
    gen = torch.Generator().manual_seed(5)
    setup = classifier(blobs(600, gen), test=(torch.randn(40, 9), torch.zeros(40, dtype=torch.long)))
    session, _, probes = diagnose(setup)
    report = session.report()
    assert probes == ["baselines"]
    assert [q.id for q in report.pending] == ["test_loss_large"]
    assert any(n.startswith("generalization probe could not run") for n in report.notes)


def test_own_training_that_diverges_is_diagnosed_as_diverged():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(256, 2, generator=gen) * 100  # unscaled inputs and a huge step: SGD blows up
    setup = Setup(
        model=lambda d: mlp(2, 1, 32, d),
        depth=1,
        train=(x, x.sum(dim=1, keepdim=True) ** 2),
        loss=nn.MSELoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=1.0),
        steps=100,
    )
    session, _, probes = diagnose(setup)
    report = session.report()
    assert "diverged" in findings(session)
    assert report.answers["loss_diverged"].value == "yes"
    assert report.answers["train_loss_large"].source == AnswerSource.probe
    assert "diverged" in report.answers["loss_diverged"].evidence.summary


def test_stopping_before_the_first_probe():
    session = Session()
    with pytest.raises(ProbeCancelled):
        run_automatic(session, ProbeContext(demo_setup("healthy")), should_stop=lambda: True)
    assert session.report().answers == {}


def test_next_probe_follows_the_path():
    session = Session()
    assert next_probe(session, set()) == ("baselines", "train_loss_large")
    assert next_probe(session, {"baselines"}) is None
    session.answer("train_loss_large", "yes")
    assert next_probe(session, {"baselines"}) == ("depth", "deeper_model_worse")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["saddle_point", "learning_rate_too_high", "optimization_issue"])
def test_the_longest_paths_train_at_most_four_models(name):
    # the cost goal: every variant trained once, the user's model reused by every probe
    _, ctx, probes = diagnose(demo_setup(name))
    # the learning-rate check runs when the run plateaus at a large loss; it trains nothing (it
    # measures snapshots the user's run recorded)
    assert [p for p in probes if p != "learning_rate"] == ["baselines", "depth", "curvature"]
    assert ctx.trainings == 4
