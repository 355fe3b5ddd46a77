"""The Hugging Face Trainer with the callback: a tiny GPT-2 built from a config (no download), data
made here. A learning rate 10x above 2/lambda_max (lambda_max from the exact Hessian formed here) is
caught; with the callback the Trainer's own losses are bit-for-bit those without it."""

from __future__ import annotations

import logging

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


def train(tmp_path, lr: float, callback: TraindocCallback | None, sgd: bool, steps: int = 16) -> list[float]:
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
    )
    optimizers = (torch.optim.SGD(model.parameters(), lr=lr), None) if sgd else (None, None)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Tokens(),
        callbacks=[callback] if callback else [],
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
