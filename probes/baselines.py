"""What "large" is measured against: the trivial predictor, an easy-to-optimize reference, the user's target.

A loss is only large relative to something (../shared/knowledge/flowchart.md). This probe computes
three references on the SAME training samples the trained model is scored on, every one with the
user's own loss function:

- the trivial predictor: the mean of the targets (regression: MSE = their variance), or for
  classification the uniform distribution (ln C) and the class priors (the prior's entropy);
- an easy-to-optimize reference fitted on the flattened inputs: closed-form least squares for
  regression, multinomial logistic regression (L-BFGS, convex) for classification;
- `Setup.target_loss`, when the user says what would be good enough.

`compute_baselines(ctx)` is cached on the context, so the depth and generalization probes reuse it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from probes.base import AnswerValue, ProbeError, ProbeOutcome
from probes.context import ProbeContext
from probes.setup import DataLike, Setup, tensors
from probes.training import evaluate_loss
from rules.thresholds import LOSS_LARGE_FRACTION, LOSS_SMALL_FRACTION

# The same samples `training.evaluate_loss` scores the trained model on (its first 8192).
EVAL_SAMPLES = 8192
# what "large" means, shared with the history reader and the TUI (rules/thresholds.py)
LARGE_FRACTION = LOSS_LARGE_FRACTION
SMALL_FRACTION = LOSS_SMALL_FRACTION
# An easy model makes the training loss large when it beats it by at least a tenth of the trivial
# loss: smaller differences do not change what the user should do next.
REFERENCE_GAP_FRACTION = 0.1
# The linear reference is only meaningful with at least this many samples per fitted coefficient;
# below it a linear model can interpolate the training data and its loss says nothing.
SAMPLES_PER_COEFFICIENT = 2
MAX_REFERENCE_FEATURES = 2048
LOGISTIC_STEPS = 200
LOGISTIC_L2 = 1e-4  # keeps the fit finite when the classes are linearly separable

Task = Literal["regression", "classification"]


@dataclass
class ReferenceFit:
    kind: str  # "least squares" or "logistic regression"
    loss: float | None  # the user's loss of the fitted reference on the training samples
    samples: int
    features: int
    seconds: float
    skipped: str | None = None  # why no reference was fitted


@dataclass
class Baselines:
    task: Task
    num_classes: int | None
    samples: int  # training samples every number below is computed on
    train_loss: float  # the user's trained model, eval mode
    trivial_loss: float  # mean predictor (regression) or class priors (classification)
    trivial: dict[str, float]  # every trivial predictor computed, by name
    reference: ReferenceFit
    target_loss: float | None
    # how the trivial predictor is built, so other splits can be scored with the same one
    constant: list[float]

    @property
    def fraction(self) -> float:
        """The training loss as a fraction of the trivial loss (1 - R^2 for MSE)."""
        return _fraction(self.train_loss, self.trivial_loss)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fraction_of_trivial"] = self.fraction
        return out


def _fraction(loss: float, trivial: float) -> float:
    if trivial > 0:
        return loss / trivial
    return 0.0 if loss <= 0 else math.inf


# -- shapes and tasks ---------------------------------------------------------------------------------


@torch.no_grad()
def model_outputs(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The model's outputs on `x` in eval mode, on the CPU."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        outs = [model(x[i : i + batch_size].to(device)).detach().cpu() for i in range(0, len(x), batch_size)]
    except Exception as exc:
        raise ProbeError(f"model forward failed on inputs of shape {tuple(x.shape)}: {exc}") from exc
    finally:
        model.train(was_training)
    return torch.cat(outs)


def infer_task(setup: Setup, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[Task, int | None]:
    """Setup.task when given; otherwise integer targets with one output per class mean classification."""
    task = setup.task
    if task is None:
        integer = not torch.is_floating_point(targets) and not torch.is_complex(targets)
        per_class = outputs.dim() >= 2 and outputs.shape[1] >= 2 and targets.dim() == outputs.dim() - 1
        task = "classification" if integer and per_class else "regression"
    if task == "regression":
        return "regression", None
    if setup.num_classes is not None:
        return "classification", setup.num_classes
    if outputs.dim() >= 2 and outputs.shape[1] >= 2:
        return "classification", int(outputs.shape[1])
    return "classification", 2  # one logit per sample: binary


def _labels(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Class indices from integer labels, 0/1 targets of a single logit, or one-hot / probability
    targets shaped like the outputs."""
    single = outputs.dim() < 2 or outputs.shape[1] == 1
    if torch.is_floating_point(targets) and single:
        return (targets > 0.5).long()
    if torch.is_floating_point(targets) and targets.shape == outputs.shape:
        return targets.argmax(dim=1)
    return targets.long()


def _user_loss(setup: Setup, prediction: torch.Tensor, targets: torch.Tensor, what: str) -> float:
    try:
        value = setup.loss(prediction, targets)
    except Exception as exc:
        raise ProbeError(
            f"the loss failed on the {what} predictions {tuple(prediction.shape)}: {exc}"
        ) from exc
    return float(value.detach())


def constant_prediction(constant: torch.Tensor, outputs: torch.Tensor, task: Task) -> torch.Tensor:
    """The same prediction for every sample, shaped like the model's outputs."""
    if task == "classification" and outputs.dim() >= 2 and outputs.shape[1] == len(constant):
        shape = [1, len(constant)] + [1] * (outputs.dim() - 2)
        return constant.reshape(shape).expand_as(outputs).to(outputs.dtype).contiguous()
    return constant.reshape(outputs.shape[1:]).expand_as(outputs).to(outputs.dtype).contiguous()


def trivial_constants(
    task: Task, num_classes: int | None, outputs: torch.Tensor, targets: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The trivial predictors' constant outputs, fitted on training targets only.

    Classification predictors are log-probabilities, which are correct both for losses that take
    logits (cross-entropy: softmax of log p is p) and for losses that take log-probabilities (NLL).
    A single output per sample is read as a binary logit.
    """
    if task == "regression":
        flat = targets.reshape(len(targets), -1).double()
        if flat.shape[1] * len(outputs) != outputs.numel():
            raise ProbeError(
                f"cannot match targets {tuple(targets.shape)} to outputs {tuple(outputs.shape)} "
                "for the mean predictor; set Setup.task"
            )
        return {"mean": flat.mean(dim=0)}
    labels = _labels(outputs, targets).reshape(-1)
    labels = labels[labels >= 0]  # cross-entropy's ignore_index (-100 by default) is no class
    classes = num_classes or int(labels.max()) + 1
    counts = torch.bincount(labels, minlength=classes)[:classes].double()
    prior = (counts + 1e-12) / counts.sum()
    if outputs.dim() < 2 or outputs.shape[1] == 1:
        p = float(prior[1]) if classes > 1 else 0.5
        p = min(max(p, 1e-12), 1 - 1e-12)
        return {
            "uniform": torch.zeros(1, dtype=torch.float64),
            "prior": torch.tensor([math.log(p / (1 - p))]),
        }
    return {"uniform": torch.full((classes,), -math.log(classes), dtype=torch.float64), "prior": prior.log()}


# -- the easy reference -------------------------------------------------------------------------------


def _features(x: torch.Tensor) -> torch.Tensor | None:
    if not torch.is_floating_point(x):
        return None
    return x.reshape(len(x), -1).double()


def fit_reference(
    setup: Setup, task: Task, num_classes: int | None, x: torch.Tensor, y: torch.Tensor, outputs: torch.Tensor
) -> ReferenceFit:
    """Least squares or logistic regression on the flattened inputs, scored with the user's loss."""
    started = time.perf_counter()
    kind = "least squares" if task == "regression" else "logistic regression"
    feats = _features(x)
    n = len(x)

    def skipped(reason: str, features: int = 0) -> ReferenceFit:
        return ReferenceFit(kind, None, n, features, time.perf_counter() - started, skipped=reason)

    if feats is None:
        return skipped(f"inputs are {x.dtype}, not numeric features")
    p = feats.shape[1]
    if p > MAX_REFERENCE_FEATURES:
        return skipped(
            f"{p} input features is more than the {MAX_REFERENCE_FEATURES} a linear reference uses", p
        )
    if n < SAMPLES_PER_COEFFICIENT * (p + 1):
        return skipped(f"{n} samples for {p + 1} coefficients: a linear model could interpolate them", p)
    design = torch.cat([feats, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    if task == "regression":
        target = y.reshape(n, -1).double()
        coef = torch.linalg.lstsq(design, target).solution
        prediction = (design @ coef).reshape(outputs.shape)
    elif outputs.dim() == 2 and outputs.shape[1] >= 2 and num_classes == outputs.shape[1]:
        labels = _labels(outputs, y)
        prediction = torch.log_softmax(_logistic(design, labels, num_classes), dim=1).reshape(outputs.shape)
    else:
        return skipped(f"outputs of shape {tuple(outputs.shape)} are not one score per class")
    loss = _user_loss(setup, prediction.to(outputs.dtype), y, "reference")
    return ReferenceFit(kind, loss, n, p, time.perf_counter() - started)


def _logistic(design: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Multinomial logistic regression by L-BFGS on standardized features; returns training logits."""
    scale = design.std(dim=0).clamp(min=1e-8)
    scale[-1] = 1.0  # the intercept column
    mean = design.mean(dim=0)
    mean[-1] = 0.0
    z = ((design - mean) / scale).float()
    weight = torch.zeros(z.shape[1], classes, requires_grad=True)
    opt = torch.optim.LBFGS([weight], max_iter=LOGISTIC_STEPS, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(z @ weight, labels) + LOGISTIC_L2 * weight[:-1].square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return (z @ weight).detach().double()


# -- computing and caching ---------------------------------------------------------------------------


def compute_baselines(ctx: ProbeContext) -> Baselines:
    """Every baseline on the user's training data; cached under "baselines" for the other probes."""
    return ctx.cached("baselines", lambda: _compute(ctx))


def _compute(ctx: ProbeContext) -> Baselines:
    setup = ctx.setup
    trained = ctx.trained()
    x, y = tensors(setup.train, EVAL_SAMPLES)
    outputs = model_outputs(trained.model, x)
    task, classes = infer_task(setup, outputs, y)
    constants = trivial_constants(task, classes, outputs, y)
    trivial = {
        name: _user_loss(setup, constant_prediction(c, outputs, task), y, f"{name}-predictor")
        for name, c in constants.items()
    }
    main = "mean" if task == "regression" else "prior"
    reference = fit_reference(setup, task, classes, x, y, outputs)
    return Baselines(
        task=task,
        num_classes=classes,
        samples=len(x),
        train_loss=trained.final_train_loss,
        trivial_loss=trivial[main],
        trivial=trivial,
        reference=reference,
        target_loss=setup.target_loss,
        constant=[float(v) for v in constants[main]],
    )


def trivial_loss_on(ctx: ProbeContext, data: DataLike, what: str) -> float:
    """The training-fitted trivial predictor scored on other data, cached by `what` (one name per split)."""
    base = compute_baselines(ctx)

    def compute() -> float:
        x, y = tensors(data, EVAL_SAMPLES, what)
        outputs = model_outputs(ctx.trained().model, x[:2])
        outputs = outputs.new_zeros((len(x), *outputs.shape[1:]))
        constant = torch.tensor(base.constant, dtype=torch.float64)
        return _user_loss(ctx.setup, constant_prediction(constant, outputs, base.task), y, f"{what} trivial")

    return ctx.cached(f"baselines:trivial:{what}", compute)


# -- the decision --------------------------------------------------------------------------------------


def decide_train_loss_large(base: Baselines) -> tuple[AnswerValue, list[str]]:
    """train_loss_large from the baselines, with every rule that was applied stated with its numbers.

    Your target decides when you gave one. Otherwise: large when the loss leaves at least half of
    the trivial loss, or when the easy reference beats it by a tenth of the trivial loss or more;
    small when it leaves at most a fifth and the reference does not beat it; unsure in between.
    """
    loss, trivial, frac = base.train_loss, base.trivial_loss, base.fraction
    if base.target_loss is not None:
        above = loss > base.target_loss
        rule = (
            f"your target decides: training loss {loss:.4g} is {'above' if above else 'at or below'} "
            f"your target_loss {base.target_loss:.4g} -> {'large' if above else 'not large'}"
        )
        return ("yes" if above else "no"), [rule]
    name = "mean predictor" if base.task == "regression" else "class-prior predictor"
    band = (
        f"training loss {loss:.4g} is {frac:.1%} of the {name}'s {trivial:.4g} "
        f"(large at >= {LARGE_FRACTION:.0%}, small at <= {SMALL_FRACTION:.0%})"
    )
    if frac >= LARGE_FRACTION:
        rules = [f"{band} -> large"]
    elif frac <= SMALL_FRACTION:
        rules = [f"{band} -> small"]
    else:
        rules = [f"{band} -> in between"]
    beaten = False
    ref = base.reference.loss
    if ref is not None:
        gap = loss - ref
        beaten = gap >= REFERENCE_GAP_FRACTION * trivial
        rules.append(
            f"{base.reference.kind} reaches {ref:.4g}, yours {loss:.4g}: the reference is "
            f"{'better' if gap > 0 else 'worse'} by {abs(gap):.4g} = {_fraction(abs(gap), trivial):.1%} "
            f"of the trivial loss (large when better by >= {REFERENCE_GAP_FRACTION:.0%}) -> "
            + ("large" if beaten else "no verdict from the reference")
        )
    if frac >= LARGE_FRACTION or beaten:
        return "yes", rules
    if frac <= SMALL_FRACTION:
        return "no", rules
    rules[0] += ", and no easy model beats it: set Setup.target_loss, or say how good is good enough"
    return "unsure", rules


def held_out_losses(ctx: ProbeContext) -> dict[str, dict[str, Any]]:
    """The trained model's validation and test losses next to the trivial predictor's on them.

    Reported here for context only: test_loss_large needs the gap to the training loss and its noise,
    so the generalization probe answers it.
    """
    out: dict[str, dict[str, Any]] = {}
    model = ctx.trained().model
    for what, data in (("validation", ctx.setup.val), ("test", ctx.setup.test)):
        if data is None:
            continue
        try:
            loss = evaluate_loss(ctx.setup, model, data, max_samples=EVAL_SAMPLES, what=what)
            trivial = trivial_loss_on(ctx, data, what)
        except ProbeError as exc:  # context only: the training-loss answer does not depend on it
            out[what] = {"error": exc.message}
            continue
        out[what] = {"loss": loss, "trivial_loss": trivial, "fraction_of_trivial": _fraction(loss, trivial)}
    return out


def baselines_probe(ctx: ProbeContext) -> ProbeOutcome:
    started = time.perf_counter()
    base = compute_baselines(ctx)
    answer, rules = decide_train_loss_large(base)
    ref = base.reference
    ref_text = f"{ref.kind} {ref.loss:.4g}" if ref.loss is not None else f"no {ref.kind} ({ref.skipped})"
    trivial_text = ", ".join(f"{k} predictor {v:.4g}" for k, v in base.trivial.items())
    verdict = {"yes": "large", "no": "not large", "unsure": "neither clearly large nor small"}[answer]
    summary = (
        f"Training loss {base.train_loss:.4g} ({base.fraction:.1%} of the trivial loss) is {verdict}. "
        f"References on {base.samples} training samples: {trivial_text}; {ref_text}"
        + (f"; your target {base.target_loss:.4g}." if base.target_loss is not None else ".")
    )
    held_out = held_out_losses(ctx)
    if "loss" in held_out.get("test", {}):
        test = held_out["test"]
        summary += (
            f" Test loss {test['loss']:.4g} ({test['fraction_of_trivial']:.1%} of its trivial loss;"
            " the generalization probe judges it)."
        )
    warnings = [f"{what} loss not computed: {v['error']}" for what, v in held_out.items() if "error" in v]
    if ref.skipped:
        warnings.append(f"no easy reference model: {ref.skipped}")
    if base.task == "classification" and base.num_classes and "uniform" in base.trivial:
        expected = math.log(base.num_classes) if base.num_classes > 1 else 0.0
        if abs(base.trivial["uniform"] - expected) > 0.05 * max(expected, 1e-6) and base.num_classes > 2:
            warnings.append(
                f"the uniform predictor scores {base.trivial['uniform']:.4g}, not ln C = {expected:.4g}: "
                "is the loss a cross-entropy over the model's outputs?"
            )
    return ProbeOutcome(
        probe="baselines",
        answers={"train_loss_large": answer},
        summary=summary,
        rules=rules,
        data=json_safe({**base.to_dict(), "held_out": held_out}),
        warnings=warnings,
        seconds=time.perf_counter() - started,
    )


def json_safe(value: Any) -> Any:
    """Non-finite floats become None, tuples lists: `data` must survive strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
