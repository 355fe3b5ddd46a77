"""The Hugging Face Trainer with the callback: a tiny GPT-2 built from a config (no download), data
made here. A learning rate 10x above 2/lambda_max (lambda_max from the exact Hessian formed here) is
caught; with the callback the Trainer's own losses are bit-for-bit those without it."""

from __future__ import annotations

import logging
import math

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the hf extra (transformers) is not installed")

from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments, set_seed  # noqa: E402

from assistant.watch.hf import TraindocCallback  # noqa: E402

VOCAB, SEQ = 16, 8


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int = 64, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, VOCAB, (n, SEQ), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def tiny_gpt2() -> GPT2LMHeadModel:
    set_seed(0)
    # eager attention: torch's fused attention kernels have no second derivative
    cfg = GPT2Config(
        vocab_size=VOCAB, n_positions=SEQ, n_embd=8, n_layer=1, n_head=2, attn_implementation="eager"
    )
    return GPT2LMHeadModel(cfg)


def exact_lambda_max(model: torch.nn.Module, batch: dict) -> float:
    """The largest eigenvalue of the exact loss Hessian on `batch` (eval mode), formed by
    torch.autograd.functional.hessian over the flattened parameters: no traindoc code involved."""
    model.eval()
    named = list(model.named_parameters())
    sizes = [p.numel() for _, p in named]

    def loss(flat: torch.Tensor) -> torch.Tensor:
        pieces = {n: t.view(p.shape) for (n, p), t in zip(named, flat.split(sizes), strict=True)}
        return torch.func.functional_call(model, pieces, (), batch).loss

    flat = torch.cat([p.detach().reshape(-1) for _, p in named])
    h = torch.autograd.functional.hessian(loss, flat, vectorize=True)
    model.train()
    return float(torch.linalg.eigvalsh((h + h.T) / 2)[-1])


def train(
    tmp_path,
    lr: float,
    callback: TraindocCallback | None,
    sgd: bool,
    steps: int = 16,
    before: tuple = (),
    **extra,
) -> list[float]:
    model = tiny_gpt2()
    args = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        max_steps=steps,
        per_device_train_batch_size=8,
        logging_steps=1,
        learning_rate=lr,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        max_grad_norm=0.0,  # no clipping: the step size is the learning rate's
        lr_scheduler_type="constant",
        seed=0,
        disable_tqdm=True,
        **extra,
    )
    optimizers = (torch.optim.SGD(model.parameters(), lr=lr), None) if sgd else (None, None)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Tokens(),
        callbacks=[*before, callback] if callback else [*before],
        optimizers=optimizers,
    )
    trainer.train()
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


@pytest.mark.slow
def test_the_callback_does_not_change_the_trainers_losses(tmp_path) -> None:
    plain = train(tmp_path / "a", 5e-3, None, sgd=False)
    cb = TraindocCallback(output_dir=tmp_path / "td", db_path=tmp_path / "s.db", curvature_every=4)
    watched = train(tmp_path / "b", 5e-3, cb, sgd=False)
    assert watched == plain
    assert cb.report is not None and len(cb.report.sharpness) >= 4
    assert all(s["kind"] == "adam" and s["preconditioned"] for s in cb.report.sharpness)  # AdamW, unwrapped


@pytest.mark.slow
def test_a_learning_rate_ten_times_the_limit_is_caught(tmp_path) -> None:
    model = tiny_gpt2()
    batch = {k: torch.stack([Tokens()[i][k] for i in range(8)]) for k in ("input_ids", "labels")}
    lam = exact_lambda_max(model, batch)  # at the initial weights, on the held batch (the first 8)
    cb = TraindocCallback(output_dir=tmp_path / "td", db_path=tmp_path / "s.db", classes=VOCAB)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    hf_root = logging.getLogger("transformers")  # the library logger the Trainer's handler sits on
    hf_root.addHandler(handler)
    try:
        train(tmp_path, 10 * 2 / lam, cb, sgd=True, steps=12)
    finally:
        hf_root.removeHandler(handler)
    report = cb.report
    first = report.sharpness[0]  # at the initial weights, where the test's lambda_max was computed
    assert first["step"] == 0 and first["exceeds"] is True
    assert first["lambda_max"] == pytest.approx(lam, rel=1e-2)
    assert report.answers["learning_rate_exceeds_stability"] == "yes"
    assert "learning_rate_too_high" in report.findings
    assert sum("above the stability threshold" in m for m in seen) == 1  # through HF's logger, once
    assert any(m.startswith("traindoc: diagnosis:") for m in seen)


class Steps(transformers.TrainerCallback):
    """The Trainer's own step at each log (placed before the watch's callback)."""

    def __init__(self, steps: list[int]) -> None:
        self.steps = steps

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        self.steps.append(state.global_step)


def _fed(report, cb) -> tuple[list, list]:
    """The history point for point (NaN/inf as None) and the alerts (kind, step, message)."""
    points = [
        (n, s, [v if math.isfinite(v) else None for v in vs]) for n, s, vs in cb.run.live.curve_points()
    ]
    return points, [(a["kind"], a["step"], a["message"]) for a in report.alerts]


@pytest.mark.slow
def test_batched_feeding_gives_the_points_and_alerts_of_per_step_feeding(tmp_path) -> None:
    """`sync_every=1` feeds each logged step at once (the callback's behaviour before batching); the
    default feeds 16 steps together. The same Trainer run (seed 0, SGD at lr 30, far above the limit:
    the tiny GPT-2 blows up), logged at every step with HF's NaN filter off: the same history point for
    point and the same alerts; the NaN alert names the first non-finite loss of the Trainer's own
    log_history (step 7 here, inside the first batch of 16) and the learning rate then."""
    runs, printed_at = [], []
    steps: list[int] = []
    handler = logging.Handler()
    handler.emit = lambda r: printed_at.append(steps[-1]) if "is NAN" in r.getMessage() else None  # type: ignore[method-assign]
    hf_root = logging.getLogger("transformers")
    hf_root.addHandler(handler)
    try:
        for sync in (1, None):
            cb = TraindocCallback(
                output_dir=tmp_path / f"td{sync}", store=False, curvature=False, sync_every=sync
            )
            losses = train(
                tmp_path / f"r{sync}",
                30.0,
                cb,
                sgd=True,
                steps=24,
                before=(Steps(steps),),
                logging_nan_inf_filter=False,
            )
            runs.append(([v if math.isfinite(v) else None for v in losses], *_fed(cb.report, cb)))
    finally:
        hf_root.removeHandler(handler)
    (losses, points, alerts), batched = runs
    assert batched == runs[0]
    # printed at its own step when fed one by one, at the end of its batch (step 16) when batched
    assert printed_at == [losses.index(None) + 1, 16]
    first_bad = losses.index(None) + 1  # logging_steps=1
    assert 1 < first_bad < 16  # the construction puts it inside the first batch (checked, not assumed)
    nan = next(a for a in alerts if a[0] == "diverged")
    assert nan[1] == first_bad and "learning rate 30" in nan[2]
