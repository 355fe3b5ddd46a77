"""Try the lecture's remedies on the user's setup and measure each one against the user's own run.

Every trial is the user's recipe with ONE thing changed (the optimizer, the learning rate, the depth,
weight decay, the weights it starts from, the amount of data), trained with the same seed and batch
order, and judged on the loss the finding is about: the training loss for the "training loss is
large" branch, the held-out validation loss for overfitting. A change counts only when it is larger
than the seed noise: the margin is twice the difference between the baseline trained with two seeds
(a floor of 1% of the baseline keeps a perfectly repeatable run from calling rounding a change).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.utils.data import Subset

from probes.base import ProbeCancelled, ProbeError, ProbeOutcome, ProbeProgress
from probes.context import ProbeContext, use_executor
from probes.remedies.plan import ADVICE, ESTIMATES, JUDGED_ON, TITLES, TRIED
from probes.remedies.result import CurvePoint, Losses, Metric, RemedyReport, RemedyResult, Status
from probes.remedies.trial import (
    DIVERGED_FACTOR,
    TRACK_SAMPLES,
    TrialRun,
    Variant,
    losses_of,
    run_trial,
    with_state,
)
from probes.setup import DataLike, Setup, as_dataset, tensors
from probes.trainings import Training, for_workers, run_training

NOISE_FACTOR = 2.0  # margin = NOISE_FACTOR * |baseline(seed) - baseline(seed + 1)|
NOISE_FLOOR = 0.01  # ... and at least this fraction of the baseline loss
HOLDOUT_FRACTION = 0.2  # held out of the training data when the setup has no validation split
MOMENTUM = 0.9
ADAM_LR = 1e-3  # Adam's default rate (Kingma & Ba; torch's default)
WEIGHT_DECAYS = (1e-2, 1e-1)
DATA_FRACTIONS = (0.5,)  # one point: half the data against all of it (the slope is what matters)
# a first-seed change wider than this many noise margins is not re-run with the second seed: under seed
# noise alone it is rarer (4.6% per remedy, simulated in tests/remedies/test_judge.py) than a "helps"
# that passes the confirmation (9.8%), so skipping the confirmation run never makes a false help likelier
DECISIVE = 3.0
RANGE_LOW, RANGE_HIGH = 1e-6, 10.0  # the range test sweeps the rate exponentially over these
RANGE_MIN_STEPS = 100  # about 14 steps per decade over 1e-6..10: enough to read a slope
RANGE_SMOOTH_SHARE = 40  # the moving average spans +-1/40 of the sweep (about a third of a decade)
STABLE_SHARE = 0.5  # the suggested stable rate: half the largest stable one (room for lambda_max to grow)
WARMUP_SHARE = 0.2  # warm-up over the first fifth of the steps


@dataclass
class Baseline:
    model: nn.Module
    losses: Losses
    seconds: float
    step_losses: list[float]
    run: TrialRun | None  # with the held-out curve, when the metric is the validation loss


class Remedies:
    """One set of trials for one setup: the shared baseline, the data split and the noise margin."""

    def __init__(self, ctx: ProbeContext, findings: list[str], workers: int = 1) -> None:
        self.ctx = ctx
        self.setup = ctx.setup
        self.findings = findings
        self.workers = max(1, workers)
        self.metric: Metric = "val" if any(JUDGED_ON.get(f) == "val" for f in findings) else "train"
        self.warnings: list[str] = []
        self.rules: list[str] = []
        self.fit, self.val = self._split()
        # result -> how to train the same remedy with another seed (for the confirmation run)
        self.reruns: dict[int, Callable[[int], Losses]] = {}
        self.baseline_runs = 0  # baseline trainings the remedies paid for (the diagnosis's are free)
        self.runs = 0.0  # every trial's training, in units of one run of the setup
        self._lock = threading.Lock()

    # -- the shared parts ---------------------------------------------------------------------------

    def _split(self) -> tuple[DataLike, DataLike | None]:
        setup = self.setup
        if self.metric != "val" or setup.val is not None:
            return setup.train, setup.val
        try:
            n = len(as_dataset(setup.train))  # type: ignore[arg-type]  # torch types Dataset without __len__; these are sized (as_dataset checks)
        except TypeError as exc:
            raise ProbeError("cannot hold out a validation split: the training data has no length") from exc
        held = max(1, round(HOLDOUT_FRACTION * n))
        if n - held < 1:
            raise ProbeError(f"too few training samples ({n}) to hold out a validation split")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(setup.seed))
        self.rules.append(
            f"no validation split in the setup: {held} of {n} training examples are held out (seeded) "
            "and every trial trains on the rest"
        )
        return _subset(setup.train, order[held:]), _subset(setup.train, order[:held])

    def judged(self, losses: Losses) -> float | None:
        return losses.get(self.metric)

    def trial(
        self, v: Variant, series: str, *, curve: bool = False, data: DataLike | None = None
    ) -> TrialRun:
        if v.train is None and self.fit is not self.setup.train:
            v.train = self.fit
        held_out = (self.val if self.val is not None else None) if curve else None
        if self.ctx.executor.is_local:
            run = run_trial(
                self.setup,
                v,
                held_out=held_out,
                progress=self.ctx.progress,
                should_stop=self.ctx.should_stop,
                series=series,
            )
        else:  # on Ray: the variant travels with the task; the worker threads give the parallelism
            shipped = for_workers(self.setup)
            training = Training(series, run_trial, (shipped, v), {"held_out": held_out, "series": series})
            run = run_training(training, self.ctx.executor, should_stop=self.ctx.should_stop)
            self.ctx.progress(
                ProbeProgress(
                    probe="remedies",
                    done=run.steps,
                    total=run.steps,
                    message=f"{series}: done (Ray)",
                    series=series,
                )
            )
        with self._lock:
            self.runs += run.steps / self.setup.steps
        return run

    def track_set(self) -> DataLike:
        """A fixed, seeded sample of the training part: the range test measures its loss every step."""
        try:
            n = len(as_dataset(self.fit))  # type: ignore[arg-type]
        except TypeError:
            return self.fit
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.setup.seed + 11))
        return _subset(self.fit, order[:TRACK_SAMPLES])

    def lr_trial(self, lr: float, series: str) -> tuple[Variant, TrialRun, bool]:
        """The recipe at another learning rate; shared when two remedies land on the same rate (the range
        test capped at the stable rate trains exactly what `stable_lr` trains). The bool: newly trained."""
        fresh: list[bool] = []

        def compute() -> TrialRun:
            fresh.append(True)
            return self.trial(Variant(series, lr=lr), series)

        run = self.ctx.cached(f"remedies:lr:{self.metric}:{lr!r}", compute)
        return Variant(series, lr=lr), run, bool(fresh)

    def baseline(self, seed: int | None = None) -> Baseline:
        seed = self.setup.seed if seed is None else seed

        def compute() -> Baseline:
            if self.metric == "train":  # the diagnosis's own trained model: shared, never retrained
                before = self.ctx.trainings
                trained = self.ctx.trained(seed=seed)
                cost = float(self.ctx.trainings - before)
                losses = losses_of(self.setup, trained.model, self.fit, self.val)
                return Baseline(trained.model, losses, trained.seconds * cost, trained.step_losses, None)
            if self.fit is self.setup.train and self.ctx.has_trained(seed=seed):
                # the diagnosis trained exactly this run (same data, seed and batch order): share it;
                # it has no held-out curve, so early stopping reads the other seed's
                trained = self.ctx.trained(seed=seed)
                losses = losses_of(self.setup, trained.model, self.fit, self.val)
                return Baseline(trained.model, losses, trained.seconds, trained.step_losses, None)
            run = self.trial(Variant("baseline", seed=seed), f"baseline seed {seed}", curve=True)
            self.baseline_runs += 1
            if run.diverged:
                raise ProbeError(f"your recipe diverged on the training part: {run.diverged}")
            losses = losses_of(self.setup, run.model, self.fit, self.val)
            return Baseline(run.model, losses, run.seconds, run.step_losses, run)

        return self.ctx.cached(f"remedies:baseline:{self.metric}:{seed}", compute)

    def curve_baseline(self, seed: int) -> Baseline:
        """The baseline of `seed` with its held-out curve, trained with the curve if the shared one has none."""
        base = self.baseline(seed)
        if base.run is not None:
            return base

        def compute() -> Baseline:
            run = self.trial(Variant("baseline", seed=seed), f"baseline seed {seed} (curve)", curve=True)
            if run.diverged:
                raise ProbeError(f"your recipe diverged on the training part: {run.diverged}")
            return Baseline(run.model, base.losses, run.seconds, run.step_losses, run)

        return self.ctx.cached(f"remedies:curve:{self.metric}:{seed}", compute)

    def noise(self) -> tuple[float, dict[str, Any]]:
        a, b = self.baseline(), self.baseline(self.setup.seed + 1)
        la, lb = self.judged(a.losses), self.judged(b.losses)
        if la is None or lb is None:
            raise ProbeError(f"the {self.metric} loss cannot be measured on this setup")
        margin = max(NOISE_FACTOR * abs(la - lb), NOISE_FLOOR * abs(la), 1e-12)
        self.rules.append(
            f"noise margin {margin:.3g} = max({NOISE_FACTOR:g} x |{la:.4g} - {lb:.4g}| (the {self.metric} "
            f"loss of your recipe with seeds {self.setup.seed} and {self.setup.seed + 1}), "
            f"{NOISE_FLOOR:.0%} of {la:.4g}); a remedy helps when it lowers the {self.metric} loss by more"
        )
        info = {
            "seeds": [float(self.setup.seed), float(self.setup.seed + 1)],
            "losses": [la, lb],
            "rule": f"max({NOISE_FACTOR:g} * |seed difference|, {NOISE_FLOOR:g} * baseline)",
            "margin": margin,
        }
        return margin, info

    def result(
        self,
        rid: str,
        setting: str,
        after_model: nn.Module | None,
        run: TrialRun | None,
        *,
        cost: float,
        seconds: float = 0.0,
        note: str = "",
        extra: dict[str, Any] | None = None,
        variant: Variant | None = None,
    ) -> RemedyResult:
        result = self._result(
            rid, setting, after_model, run, cost=cost, seconds=seconds, note=note, extra=extra
        )
        if variant is not None and result.status != "diverged":
            self.reruns[id(result)] = lambda seed: self.rerun(variant, seed)
        return result

    def rerun(self, variant: Variant, seed: int) -> Losses:
        run = self.trial(replace(variant, seed=seed), f"{variant.label} seed {seed}")
        if run.diverged:
            raise ProbeError(f"{variant.label} diverged with seed {seed}: {run.diverged}")
        return losses_of(self.setup, run.model, self.fit, self.val)

    def _result(
        self,
        rid: str,
        setting: str,
        after_model: nn.Module | None,
        run: TrialRun | None,
        *,
        cost: float,
        seconds: float = 0.0,
        note: str = "",
        extra: dict[str, Any] | None = None,
    ) -> RemedyResult:
        base = self.baseline()
        if run is not None and run.diverged:
            return RemedyResult(
                id=rid,
                title=TITLES[rid],
                setting=setting,
                status="diverged",
                before=base.losses,
                seconds=run.seconds,
                cost_runs=cost,
                note=f"diverged: {run.diverged}. {note}".strip(),
                data=extra or {},
            )
        model = after_model if after_model is not None else (run.model if run else None)
        assert model is not None
        after = losses_of(self.setup, model, self.fit, self.val)
        return RemedyResult(
            id=rid,
            title=TITLES[rid],
            setting=setting,
            status="no_change",
            before=base.losses,
            after=after,
            seconds=seconds or (run.seconds if run else 0.0),
            cost_runs=cost,
            note=note,
            curve=_curve(run),
            data=extra or {},
        )

    def skipped(self, rid: str, note: str, status: Status = "skipped") -> RemedyResult:
        return RemedyResult(
            id=rid,
            title=TITLES.get(rid, rid),
            status=status,
            before=self.baseline().losses,
            note=note,
        )

    def user_optimizer(self) -> torch.optim.Optimizer | None:
        try:
            return self.setup.optimizer([nn.Parameter(torch.zeros(1))])
        except Exception:
            return None

    def user_lr(self) -> float | None:
        opt = self.user_optimizer()
        if opt is None or not opt.param_groups:
            return None
        lr = opt.param_groups[0].get("lr")
        return float(lr) if isinstance(lr, (int, float)) else None


def _subset(data: DataLike, idx: torch.Tensor) -> DataLike:
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return (data[0][idx], data[1][idx])
    return Subset(as_dataset(data), idx.tolist())


def _curve(run: TrialRun | None, points: int = 40) -> list[CurvePoint]:
    if run is None:
        return []
    if run.curve:
        return run.curve
    every = max(1, len(run.step_losses) // points)
    return [CurvePoint(step=i + 1, train=v) for i, v in enumerate(run.step_losses) if i % every == 0]


def _name(optimizer: torch.optim.Optimizer | None) -> str:
    return type(optimizer).__name__ if optimizer is not None else "your optimizer"


# -- the trials ---------------------------------------------------------------------------------------

Trial = Callable[[Remedies], list[RemedyResult]]


def momentum(r: Remedies) -> list[RemedyResult]:
    opt = r.user_optimizer()
    group = opt.param_groups[0] if opt is not None and opt.param_groups else {}
    if "momentum" not in group:
        return [
            r.skipped(
                "momentum", f"{_name(opt)} has no momentum setting (Adam-like optimizers keep their own)"
            )
        ]
    if float(group["momentum"] or 0.0) > 0:
        return [r.skipped("momentum", f"your optimizer already uses momentum {group['momentum']:g}")]

    def factory(params: Any) -> torch.optim.Optimizer:
        built = r.setup.optimizer(params)
        for g in built.param_groups:
            g["momentum"] = MOMENTUM
        return built

    v = Variant("momentum", optimizer=factory)
    run = r.trial(v, "momentum")
    return [r.result("momentum", f"{_name(opt)} momentum 0 -> {MOMENTUM:g}", None, run, cost=1.0, variant=v)]


def adam(r: Remedies) -> list[RemedyResult]:
    opt = r.user_optimizer()
    if isinstance(opt, (torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.Adagrad)):
        return [r.skipped("adam", f"your optimizer ({_name(opt)}) is already adaptive")]
    v = Variant("adam", optimizer=lambda p: torch.optim.Adam(p, lr=ADAM_LR))
    run = r.trial(v, "adam")
    return [r.result("adam", f"{_name(opt)} -> Adam lr {ADAM_LR:g}", None, run, cost=1.0, variant=v)]


def range_reading(lrs: list[float], losses: list[float]) -> dict[str, Any]:
    """Smith's reading of an LR range test: where the smoothed loss falls fastest and where it is lowest.

    The sweep is read after it ends, so the smoothing is a centred moving average (no lag; Smith's online
    exponential average shifts the curve towards larger rates). The slope is taken against ln(lr), the
    axis the rate grows along. Returns the index and rate of the steepest descent (None when the loss
    falls nowhere) and of the lowest smoothed loss.
    """
    n = len(losses)
    half = max(1, n // RANGE_SMOOTH_SHARE)
    smooth = []
    for i in range(n):
        window = [v for v in losses[max(0, i - half) : i + half + 1] if math.isfinite(v)]
        smooth.append(sum(window) / len(window) if window else math.inf)
    lowest = min(range(n), key=smooth.__getitem__)
    logs = [math.log(x) for x in lrs]
    slopes = {
        i: (smooth[i + half] - smooth[i - half]) / (logs[i + half] - logs[i - half])
        for i in range(half, min(lowest, n - 1 - half) + 1)
        if logs[i + half] > logs[i - half]
    }
    steep = min(slopes, key=slopes.__getitem__) if slopes else None
    if steep is not None and slopes[steep] >= 0:
        steep = None
    return {
        "smooth": smooth,
        "lowest": lowest,
        "lowest_lr": lrs[lowest],
        "steepest": steep,
        "steepest_lr": None if steep is None else lrs[steep],
    }


def _stability_limit(r: Remedies) -> tuple[float | None, str]:
    """The largest stable rate 2/lambda_max (or the optimizer's own formula) and how it was measured."""
    try:
        m = _curvature(r)
    except ProbeCancelled:
        raise
    except ProbeError as exc:
        return None, f"the stability limit could not be measured ({exc.message})"
    except (RuntimeError, ValueError) as exc:  # e.g. a model whose second derivatives torch cannot take
        return None, f"the stability limit could not be measured ({type(exc).__name__})"
    limit = m.stability.get("limit")
    if limit is None:
        return None, f"no stability limit for this optimizer (lambda_max {m.lambda_max:.4g})"
    return float(limit), f"{m.stability['formula']} = {float(limit):.3g} (lambda_max {m.lambda_max:.4g})"


def lr_range(r: Remedies) -> list[RemedyResult]:
    """Smith's LR range test (2017): the rate grows exponentially, the loss is read, training follows.

    The loss is measured after every step on a fixed sample of the training data (a minibatch's loss is
    too noisy to read a slope from in a short sweep); the sweep stops when that loss exceeds 4x its
    lowest. The suggestion is the larger of Smith's two readings (the rate where the smoothed loss falls
    fastest, a tenth of the rate where it is lowest); a suggestion above the stability limit measured
    from lambda_max is capped at the rate `stable_lr` uses, and says so.
    """
    steps = r.setup.steps
    sweep = max(RANGE_MIN_STEPS, steps // 4)
    ratio = RANGE_HIGH / RANGE_LOW

    def rate(step: int) -> float:
        return RANGE_LOW * ratio ** (step / max(1, sweep - 1))

    scan = r.trial(
        Variant("range", steps=sweep, absolute_lr_at=rate, stop_on_divergence=True, track=r.track_set()),
        "lr range test",
    )
    losses = scan.track_losses
    if len(losses) < 5:
        return [r.skipped("lr_range", "the range test diverged before it measured anything")]
    lrs = scan.lrs[: len(losses)]
    reading = range_reading(lrs, losses)
    smooth, steep = reading["smooth"], reading["steepest"]
    if steep is None or smooth[reading["lowest"]] > (1 - NOISE_FLOOR) * smooth[0]:
        return [
            r.skipped(
                "lr_range",
                f"the loss did not fall at any rate from {RANGE_LOW:g} to {lrs[-1]:.3g}: the range test "
                "has nothing to suggest",
            )
        ]
    # Smith's two readings: where the loss falls fastest, and a tenth of where it is lowest. Both keep
    # clear of the blow-up; the bolder one trains faster, and the cap below keeps it stable
    suggested = max(float(reading["steepest_lr"]), reading["lowest_lr"] / 10)
    limit, how = _stability_limit(r)
    note = (
        f"the smoothed loss fell fastest at lr {reading['steepest_lr']:.3g} and was lowest at lr "
        f"{reading['lowest_lr']:.3g}; the larger of the first and a tenth of the second is {suggested:.3g}"
        + (
            f"; the sweep stopped at lr {lrs[-1]:.3g} (loss above {DIVERGED_FACTOR:g}x its lowest)"
            if len(losses) < sweep
            else ""
        )
    )
    capped = limit is not None and suggested > limit
    if capped:
        assert limit is not None
        note += (
            f". That is above the stability limit {how}: capped at {STABLE_SHARE:g} x the limit, "
            f"{STABLE_SHARE * limit:.3g}"
        )
        suggested = STABLE_SHARE * limit
    else:
        note += f"; stability limit: {how}" if limit is not None else f"; {how}"
    current = r.user_lr()
    v, run, fresh = r.lr_trial(suggested, "lr from range test")
    if not fresh:
        note += " (the same training as the stable-rate remedy: shared, not repeated)"
    every = max(1, len(losses) // 40)
    return [
        r.result(
            "lr_range",
            f"lr {current:g} -> {suggested:.3g}" if current else f"lr -> {suggested:.3g}",
            None,
            run,
            cost=float(fresh) + len(losses) / steps,
            variant=v,
            seconds=(run.seconds if fresh else 0.0) + scan.seconds,
            note=note,
            extra={
                "range_lrs": [lrs[i] for i in range(0, len(losses), every)],
                "range_losses": [smooth[i] for i in range(0, len(losses), every)],
                "steepest_lr": reading["steepest_lr"],
                "lowest_lr": reading["lowest_lr"],
                "stop_lr": lrs[-1],
                "stability_limit": limit,
                "capped": int(capped),
                "suggested_lr": suggested,
            },
        )
    ]


def longer(r: Remedies) -> list[RemedyResult]:
    base = r.baseline()
    losses = base.step_losses
    tenth = max(2, len(losses) // 10)
    if len(losses) < 2 * tenth:
        return [r.skipped("longer", "too few steps to tell whether the loss is still falling")]
    last, prev = losses[-tenth:], losses[-2 * tenth : -tenth]
    mean_last, mean_prev = sum(last) / tenth, sum(prev) / tenth
    sd = math.sqrt(sum((v - mean_last) ** 2 for v in last) / max(1, tenth - 1))
    falling = mean_prev - mean_last > 2 * sd / math.sqrt(tenth)
    trend = f"minibatch loss over the last tenth {mean_last:.4g} vs the tenth before {mean_prev:.4g}"
    if not falling:
        return [
            r.skipped("longer", f"the loss has stopped falling ({trend}): longer training would not help")
        ]
    run = r.trial(Variant("longer", start=base.model), "longer")
    return [
        r.result(
            "longer",
            f"{r.setup.steps} -> {2 * r.setup.steps} steps",
            None,
            run,
            cost=1.0,
            note=f"still falling: {trend}; continued from your trained model (optimizer state restarted)",
        )
    ]


def _curvature(r: Remedies) -> Any:
    from probes.curvature import step_rule
    from probes.measure import measure_curvature

    def compute() -> Any:
        trained = r.ctx.trained()
        return measure_curvature(
            trained.model,
            r.setup.loss,
            r.setup.train,
            optimizer=step_rule(r.setup, trained),
            seed=r.setup.seed,
            should_stop=r.ctx.should_stop,
            probe="remedies",
        )

    return r.ctx.cached("remedies:curvature", compute)


def escape_step(r: Remedies) -> list[RemedyResult]:
    m = _curvature(r)
    if m.escape is None or not m.escape.lowers_loss:
        why = "no saddle point was measured" if m.escape is None else "no step along it lowered the loss"
        return [r.skipped("escape_step", f"{why} (lambda_min {m.lambda_min:.3g})")]
    from probes.hessian import unflatten

    best = m.escape.best
    direction = m.escape.direction * (best.sign * best.distance)

    def perturb(model: nn.Module) -> None:
        params = list(model.parameters())
        for p, d in zip(params, unflatten(direction, params), strict=True):
            p.add_(d.to(p.dtype).to(p.device))

    run = r.trial(Variant("escape", start=r.baseline().model, perturb=perturb), "escape step")
    return [
        r.result(
            "escape_step",
            f"step {best.distance:g} along {'+' if best.sign > 0 else '-'}u (lambda_min {m.lambda_min:.3g}), "
            f"then {r.setup.steps} steps",
            None,
            run,
            cost=1.0,
            note=f"the step alone lowers the loss from {m.escape.base_loss:.4g} to {best.loss:.4g}",
        )
    ]


def _trained_depth(r: Remedies, depth: int, rid: str, setting: str) -> RemedyResult:
    if r.metric == "train":
        before = r.ctx.trainings
        trained = r.ctx.trained(depth)  # shared with the depth probe's ladder
        cost = float(r.ctx.trainings - before)
        note = "" if cost else "reused from the depth ladder: no extra training."
        result = r.result(
            rid, setting, trained.model, None, cost=cost, seconds=trained.seconds * cost, note=note
        )
        r.reruns[id(result)] = lambda seed: losses_of(r.setup, r.ctx.trained(depth, seed).model, r.fit, r.val)
        return result
    v = Variant(rid, depth=depth)
    run = r.trial(v, rid, curve=True)
    return r.result(rid, setting, None, run, cost=1.0, variant=v)


def _buildable(setup: Setup, depth: int) -> bool:
    from probes.depth import _build_error

    return _build_error(setup, depth) is None


def shallower(r: Remedies) -> list[RemedyResult]:
    from probes.depth import default_ladder

    d = r.setup.depth
    ladder = r.setup.depths or default_ladder(r.setup)
    shallow = sorted(x for x in ladder if x < d)
    if not shallow:
        return [r.skipped("shallower", f"no shallower depth than {d} can be built")]
    target = shallow[0] if d > 1 else shallow[-1]
    return [_trained_depth(r, target, "shallower", f"depth {d} -> {target}")]


def deeper(r: Remedies) -> list[RemedyResult]:
    d = r.setup.depth
    ladder = r.setup.depths or []
    deeper_ones = [x for x in ladder if x > d] or [
        x for x in (2 * d if d else 2, d + 2) if _buildable(r.setup, x)
    ]
    if not deeper_ones:
        return [r.skipped("deeper", f"no deeper model than depth {d} can be built")]
    target = max(deeper_ones)
    return [_trained_depth(r, target, "deeper", f"depth {d} -> {target}")]


def smaller(r: Remedies) -> list[RemedyResult]:
    d = r.setup.depth
    if d < 1 or not _buildable(r.setup, d - 1):
        return [r.skipped("smaller", f"no smaller depth than {d} can be built")]
    return [_trained_depth(r, d - 1, "smaller", f"depth {d} -> {d - 1}")]


def model_options(r: Remedies) -> list[RemedyResult]:
    options = r.setup.model_options or {}
    if not options:
        return []
    out = []
    for key, values in options.items():
        for value in values:
            v = Variant(f"{key}={value}", model_options={key: value})
            run = r.trial(v, f"{key}={value}")
            out.append(
                r.result("model_options", f"model(depth, {key}={value!r})", None, run, cost=1.0, variant=v)
            )
    return out


def stable_lr(r: Remedies) -> list[RemedyResult]:
    m = _curvature(r)
    limit = m.stability.get("limit")
    if limit is None:
        return [r.skipped("stable_lr", "no direction curves up: the stability limit is undefined")]
    suggested = STABLE_SHARE * float(limit)
    v, run, fresh = r.lr_trial(suggested, "stable lr")
    return [
        r.result(
            "stable_lr",
            f"lr {m.stability.get('learning_rate') or r.user_lr():g} -> {suggested:.3g}",
            None,
            run,
            cost=float(fresh),
            seconds=run.seconds if fresh else 0.0,
            variant=v,
            note=f"half the stability limit {m.stability['formula']} = {float(limit):.3g} "
            f"(lambda_max {m.lambda_max:.4g})"
            + ("" if fresh else " (the same training as the range test's capped rate: shared)"),
        )
    ]


def warmup(r: Remedies) -> list[RemedyResult]:
    n = max(1, round(WARMUP_SHARE * r.setup.steps))
    v = Variant("warmup", lr_at=lambda s: min(1.0, (s + 1) / n))
    run = r.trial(v, "warm-up")
    return [
        r.result(
            "warmup", f"linear warm-up over the first {n} steps to your rate", None, run, cost=1.0, variant=v
        )
    ]


def lower_lr(r: Remedies) -> list[RemedyResult]:
    lr = r.user_lr()
    if lr is None:
        return [r.skipped("lower_lr", "your optimizer's learning rate cannot be read")]
    v = Variant("lower lr", lr=lr / 10)
    run = r.trial(v, "lr / 10")
    return [r.result("lower_lr", f"lr {lr:g} -> {lr / 10:g}", None, run, cost=1.0, variant=v)]


def early_stopping(r: Remedies) -> list[RemedyResult]:
    seeds = (r.setup.seed, r.setup.seed + 1)
    # the seed whose baseline already has a held-out curve (the other one may be the diagnosis's run)
    seed = next((s for s in seeds if r.baseline(s).run is not None), seeds[0])
    other = seeds[1] if seed == seeds[0] else seeds[0]
    base = r.curve_baseline(seed)
    run = base.run
    if run is None or run.best_state is None or run.best_step is None:
        return [r.skipped("early_stopping", "no held-out curve was recorded")]
    model = with_state(run.model, run.best_state)
    result = r.result(
        "early_stopping",
        f"stop at step {run.best_step} of {run.steps}",
        model,
        None,
        cost=0.0,
        note="the baseline's own held-out curve: no extra training (chosen on the validation split, "
        "so its validation loss is optimistic; the test loss is not)"
        + (f"; read on seed {seed}'s run, compared with it" if seed != r.setup.seed else ""),
    )
    result.before = r.baseline(seed).losses
    result.curve = run.curve
    result.data["seed"] = seed

    def rerun(_: int) -> Losses:
        again = r.curve_baseline(other).run
        if again is None or again.best_state is None:
            raise ProbeError(f"no held-out curve for seed {other}")
        return losses_of(r.setup, with_state(again.model, again.best_state), r.fit, r.val)

    r.reruns[id(result)] = rerun
    return [result]


def weight_decay(r: Remedies) -> list[RemedyResult]:
    out = []
    for wd in WEIGHT_DECAYS:
        v = Variant(f"wd {wd:g}", weight_decay=wd)
        run = r.trial(v, f"weight decay {wd:g}")
        out.append(r.result("weight_decay", f"weight_decay {wd:g}", None, run, cost=1.0, variant=v))
    return out


def learning_curve(r: Remedies) -> list[RemedyResult]:
    n = len(as_dataset(r.fit))  # type: ignore[arg-type]  # torch types Dataset without __len__; these are sized (as_dataset checks)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(r.setup.seed + 7))
    points: list[tuple[float, float]] = []
    seconds = 0.0
    for fraction in DATA_FRACTIONS:
        k = max(1, round(fraction * n))
        run = r.trial(
            Variant(f"{fraction:.0%} data", train=_subset(r.fit, order[:k])), f"{fraction:.0%} of the data"
        )
        seconds += run.seconds
        value = r.judged(losses_of(r.setup, run.model, r.fit, r.val))
        points.append((fraction, math.nan if value is None else value))
    full = r.judged(r.baseline().losses)
    points.append((1.0, math.nan if full is None else full))
    half = points[-2][1]  # the largest fraction below all of the data
    slope = (half - points[-1][1]) if math.isfinite(half) else math.nan
    result = RemedyResult(
        id="learning_curve",
        title=TITLES["learning_curve"],
        setting=", ".join(f"{f:.0%}: {v:.4g}" for f, v in points),
        status="no_change",
        before=Losses(**{r.metric: half}),
        after=Losses(**{r.metric: points[-1][1]}),
        seconds=seconds,
        cost_runs=float(len(DATA_FRACTIONS)),
        note=f"the {r.metric} loss went from {half:.4g} with {points[-2][0]:.0%} of the data to {points[-1][1]:.4g} with all of "
        f"it; if it keeps falling like that, doubling the data would lower it by about {slope:.3g} more "
        "(an extrapolation, not a measurement)",
        data={"fractions": [f for f, _ in points], "losses": [v for _, v in points]},
    )
    return [result]


def augment(r: Remedies) -> list[RemedyResult]:
    if r.setup.augment is None:
        return []  # listed as advice, "not tried"
    v = Variant("augment", augment=True)
    run = r.trial(v, "augmentation")
    return [r.result("augment", "Setup.augment on every training batch", None, run, cost=1.0, variant=v)]


TRIALS: dict[str, Trial] = {
    "momentum": momentum,
    "adam": adam,
    "lr_range": lr_range,
    "longer": longer,
    "escape_step": escape_step,
    "shallower": shallower,
    "stable_lr": stable_lr,
    "warmup": warmup,
    "lower_lr": lower_lr,
    "deeper": deeper,
    "model_options": model_options,
    "early_stopping": early_stopping,
    "weight_decay": weight_decay,
    "smaller": smaller,
    "learning_curve": learning_curve,
    "augment": augment,
}


# -- judging ------------------------------------------------------------------------------------------


def judge(r: Remedies, result: RemedyResult, margin: float) -> None:
    if result.status in ("diverged", "skipped", "not_tried"):
        return
    before, after = r.judged(result.before), r.judged(result.after)
    if before is None or after is None:
        result.status = "skipped"
        result.note = (result.note + f" (no {r.metric} loss to judge on)").strip()
        return
    result.change = after - before
    result.relative_change = result.change / before if before else None
    result.margin = margin
    if result.change < -margin:
        result.status = "helps"
    elif result.change > margin:
        result.status = "hurts"


def _mean(a: Losses, b: Losses) -> Losses:
    def m(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None else (x + y) / 2

    return Losses(train=m(a.train, b.train), val=m(a.val, b.val), test=m(a.test, b.test))


def confirm(r: Remedies, results: list[RemedyResult], margin: float) -> None:
    """Train the most promising remedy once more with the second seed and judge the two-seed means.

    One run with one seed can look better by luck; the mean of two seeds against the baseline's mean
    of the same two seeds has a margin smaller by sqrt(2), so a real gain is confirmed and a lucky one
    is not (the rule is stated in the report).
    """
    candidates = [
        x
        for x in results
        if x.id not in ESTIMATES and x.change is not None and x.change < 0 and id(x) in r.reruns
    ]
    if not candidates:
        return
    best = min(candidates, key=lambda x: x.change or 0.0)
    seed = r.setup.seed + 1
    if best.change is not None and best.change < -DECISIVE * margin:
        best.data.update(confirmed=0, decisive=1, margins=round(-best.change / margin, 2))
        best.note = (
            best.note + f" Not re-run with a second seed: the change is {-best.change / margin:.1f} noise "
            f"margins wide (more than {DECISIVE:g}), which seed noise alone produces less often than a "
            "confirmed help."
        ).strip()
        r.rules.append(
            f"the most promising remedy ({best.id}: {best.setting}) changed the {r.metric} loss by more than "
            f"{DECISIVE:g} noise margins with one seed: decisive, so it was not trained again with seed {seed}"
        )
        return
    runs, trainings = r.runs, r.ctx.trainings
    try:
        second = r.reruns[id(best)](seed)
    except ProbeError as exc:
        best.note = (best.note + f" Confirmation with seed {seed} failed: {exc.message}").strip()
        best.status = "no_change" if best.status == "helps" else best.status
        return
    before = _mean(r.baseline().losses, r.baseline(seed).losses)
    after = _mean(best.after, second)
    best.data.update(first_seed_change=best.change, second_seed_loss=second.get(r.metric), confirmed=1)
    best.before, best.after = before, after
    # what the re-run trained (nothing when it reuses a trained baseline)
    best.cost_runs += (r.runs - runs) + (r.ctx.trainings - trainings)
    confirmed = margin / math.sqrt(2)
    b, a = r.judged(before), r.judged(after)
    if a is None or b is None:
        return
    best.change, best.margin = a - b, confirmed
    best.relative_change = best.change / b if b else None
    best.status = (
        "helps" if best.change < -confirmed else ("hurts" if best.change > confirmed else "no_change")
    )
    best.note = (
        best.note + f" Confirmed with seeds {r.setup.seed} and {seed}: before and after are two-seed means, "
        f"margin {confirmed:.3g} (the one-seed margin / sqrt 2)."
    ).strip()
    r.rules.append(
        f"the most promising remedy ({best.id}: {best.setting}) was trained again with seed {seed}; it counts as "
        f"helping only if its two-seed mean beats the baseline's two-seed mean by more than {confirmed:.3g}"
    )


def _mismatch(r: Remedies) -> tuple[str, dict[str, Any]]:
    from probes.generalization import two_sample_check

    if r.setup.test is None:
        return "there is no test set to compare with", {}
    check = two_sample_check(
        tensors(r.setup.train)[0].float(), tensors(r.setup.test)[0].float(), r.setup.seed
    )
    if "auc" not in check:
        return f"the domain check was skipped: {check.get('skipped')}", check
    return (
        f"a classifier tells your test inputs from your training inputs with AUC {check['auc']:.3f} "
        f"(0.5 = indistinguishable; above {check['threshold']:.3f} is a measured shift)",
        check,
    )


def try_remedies(
    ctx: ProbeContext, findings: list[str], *, workers: int = 1, executor: str | None = None
) -> RemedyReport:
    """Measure every runnable remedy of `findings` on the setup; never raises for a remedy that fails.

    `workers` remedies are tried at once (threads); with `executor` ray (or the context's) each of
    their trainings is a Ray task, so `workers` trainings run at once on the cluster."""
    use_executor(ctx, executor)
    unknown = [f for f in findings if f not in TRIED]
    if unknown:
        raise ProbeError(f"unknown finding {unknown[0]!r} (known: {', '.join(TRIED)})", field="findings")
    started = time.perf_counter()
    r = Remedies(ctx, findings, workers)
    ids = list(dict.fromkeys(rid for f in findings for rid in TRIED[f]))
    addressed = {rid: [f for f in findings if rid in TRIED[f]] for rid in ids}
    results: list[RemedyResult] = []
    margin = 0.0
    noise: dict[str, Any] = {}
    if ids:
        ctx.progress(
            ProbeProgress(probe="remedies", done=0, total=len(ids) + 1, message="your recipe, two seeds")
        )
        baseline_cost = ctx.trainings
        margin, noise = r.noise()
        baseline_cost = ctx.trainings - baseline_cost + r.baseline_runs

        def one(rid: str) -> list[RemedyResult]:
            try:
                out = TRIALS[rid](r)
            except ProbeCancelled:  # by class: a stop is not a remedy that "could not run"
                raise
            except ProbeError as exc:
                out = [r.skipped(rid, f"could not run: {exc.message}")]
            for res in out:
                res.findings = addressed[rid]
                judge(r, res, margin)
            return out

        if r.workers > 1:
            with ThreadPoolExecutor(max_workers=r.workers) as pool:
                for i, out in enumerate(pool.map(one, ids), 1):
                    results += out
                    ctx.progress(
                        ProbeProgress(probe="remedies", done=i, total=len(ids), message=f"{ids[i - 1]} done")
                    )
        else:
            for i, rid in enumerate(ids, 1):
                ctx.progress(
                    ProbeProgress(probe="remedies", done=i, total=len(ids) + 1, message=f"trying {rid}")
                )
                results += one(rid)
    else:
        baseline_cost = 0
    for f in findings:
        for rid, text in ADVICE.get(f, ()):
            if rid == "augment" and ctx.setup.augment is not None:
                continue
            if rid in ("dropout", "architecture", "normalization") and ctx.setup.model_options:
                continue
            results.append(
                RemedyResult(
                    id=rid,
                    title=text.split(":")[0].split(".")[0],
                    status="not_tried",
                    findings=[f],
                    note=text,
                )
            )
    if ids:
        confirm(r, results, margin)
    shift: dict[str, Any] = {}
    candidates = [
        x for x in results if x.status == "helps" and x.id not in ESTIMATES and x.change is not None
    ]
    # a remedy confirmed with two seeds outranks one measured once, however large the latter's change
    best = (
        min(
            candidates,
            key=lambda x: (0 if x.data.get("confirmed") or x.data.get("decisive") else 1, x.change or 0.0),
        )
        if candidates
        else None
    )
    if "mismatch" in findings:
        text, shift = _mismatch(r)
        recommendation = (
            "Training changes cannot fix a mismatch, so none was tried: " + text + ". Collect training data "
            "that looks like the test data."
        )
    elif not ids:
        recommendation = (
            "Nothing to fix: no remedy applies to " + (", ".join(findings) or "these findings") + "."
        )
    elif best is not None:
        recommendation = (
            f"{best.title} ({best.setting}) helped most: the {r.metric} loss went from {r.judged(best.before):.4g} "
            f"to {r.judged(best.after):.4g} (change {best.change:+.3g}, noise margin {best.margin or margin:.3g})."
        )
    else:
        tried = [x for x in results if x.status in ("no_change", "hurts", "diverged")]
        recommendation = (
            f"Nothing that was tried helped: none of {len(tried)} trials lowered the {r.metric} loss by more "
            f"than the noise margin {margin:.3g}. See the advice marked 'not tried'."
        )
    base = r.baseline() if ids else None
    # the before curve on the judged split: the seed-0 run shared with the diagnosis has no held-out
    # curve, the seed-1 run trained for the noise margin has one
    curve_base, curve_seed = base, ctx.setup.seed
    if base is not None and base.run is None and r.metric == "val":
        other = r.baseline(ctx.setup.seed + 1)
        if other.run is not None:
            curve_base, curve_seed = other, ctx.setup.seed + 1
    cost = baseline_cost + sum(x.cost_runs for x in results)
    return RemedyReport(
        setup=ctx.setup.name,
        findings=findings,
        metric=r.metric,
        baseline=base.losses if base else Losses(),
        baseline_seconds=base.seconds if base else 0.0,
        noise={**noise, **({"domain_auc": shift["auc"]} if "auc" in shift else {})},
        baseline_curve=_curve(curve_base.run)
        if curve_base and curve_base.run
        else (_curve(TrialRun(base.model, base.step_losses, [], 0.0, 0)) if base else []),
        baseline_curve_seed=curve_seed if base else None,
        remedies=results,
        best=f"{best.id}: {best.setting}" if best else None,
        recommendation=recommendation,
        nothing_helps=best is None,
        cost_runs=round(cost, 3),
        seconds=time.perf_counter() - started,
        rules=r.rules,
        warnings=r.warnings,
        executor=ctx.executor.describe(r.workers),
    )


def remedies_probe(
    ctx: ProbeContext, *, findings: str = "", workers: int = 1, executor: str | None = None
) -> ProbeOutcome:
    """The registry's entry: `findings` is a comma-separated list of finding ids to treat."""
    names = [f.strip() for f in findings.split(",") if f.strip()]
    if not names:
        raise ProbeError(
            "give the findings to treat, e.g. findings=overfitting (`traindoc remedies` finds them itself)",
            field="findings",
        )
    if workers < 1:
        raise ProbeError(f"workers must be at least 1 (got {workers})", field="workers")
    report = try_remedies(ctx, names, workers=workers, executor=executor)
    return ProbeOutcome(
        probe="remedies",
        summary=report.recommendation,
        rules=report.rules,
        data=report.model_dump(mode="json"),
        warnings=report.warnings,
        seconds=report.seconds,
    )
