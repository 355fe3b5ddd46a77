"""Model bias or optimization issue? Train shallower and deeper variants with the same recipe and compare.

A deeper network can copy a shallower one and make its extra layers the identity, so if it were
optimized well it could never reach a higher TRAINING loss. If it does, optimization is failing
(the ResNet paper's 56- vs 20-layer plain network; the lecture's 5 layers at 0.34k vs 4 at 0.10k).
If it does not, yet the loss is large, the function set is too small: model bias.

Every variant is trained by `ProbeContext.trained(depth, seed)` with the user's loss, optimizer,
steps and batch size, so the user's own trained model is reused and nothing is trained twice.
Differences are judged against the spread across seeds (a one-sided t margin) and against a floor
of 10% of the better loss, so seed noise alone never decides.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from probes.base import AnswerValue, ProbeCancelled, ProbeError, ProbeOutcome, ProbeProgress, TrainingDiverged
from probes.baselines import compute_baselines, json_safe
from probes.context import ProbeContext, use_executor
from probes.setup import Setup, resolve_device
from probes.training import TrainedModel, build_model
from probes.trainings import executor_json

# A difference smaller than this share of the better loss is too small to call one variant worse,
# however quiet the seeds are (the lecture's 5-layer model was 240% worse than the 4-layer one).
RELATIVE_FLOOR = 0.10
# ...and never smaller than this share of the trivial loss, so two variants both near zero are equal.
TRIVIAL_FLOOR = 0.01
# A final training loss above this many times the trivial predictor's has blown up: the run is
# reported as such and kept out of the averages and the noise estimate.
BLOWUP_FACTOR = 3.0
# One-sided 95% quantiles of Student's t by degrees of freedom (the pooled seed-noise estimate's).
_T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860, 9: 1.833,
        10: 1.812, 12: 1.782, 15: 1.753, 20: 1.725, 30: 1.697, 60: 1.671}  # fmt: skip

Sureness = Literal["clear", "marginal", "undecided"]


def t95(df: int) -> float:
    """One-sided 95% Student-t quantile; the next smaller tabulated df errs on the safe side."""
    if df <= 0:
        return math.inf
    if df > 60:
        return 1.645
    return _T95[max(k for k in _T95 if k <= df)]


@dataclass
class Rung:
    """One depth of the ladder: its final training loss per seed."""

    depth: int
    seeds: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # finite losses, one per seed that trained
    diverged: list[int] = field(default_factory=list)  # seeds whose training blew up
    seconds: float = 0.0
    parameters: int | None = None
    failed: str | None = None  # the variant could not be built: left out of every comparison
    shapes: list[tuple[int, ...]] | None = None  # parameter shapes: equal everywhere = same model

    @property
    def mean(self) -> float:
        """Mean final training loss; a variant whose training blew up counts as worse than any finite one."""
        if self.diverged:
            return math.inf
        return statistics.fmean(self.losses) if self.losses else math.nan

    @property
    def spread(self) -> float:
        """Sample standard deviation across seeds (0 with a single seed)."""
        return statistics.stdev(self.losses) if len(self.losses) >= 2 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mean"] = self.mean if math.isfinite(self.mean) else None
        out["spread"] = self.spread
        return out


@dataclass
class Comparison:
    """Is `worse` (the variant under suspicion) clearly worse than `better`?"""

    worse: int
    better: int
    difference: float  # mean loss of `worse` minus mean loss of `better`
    noise_margin: float
    floor: float
    verdict: bool  # difference > margin
    sureness: Sureness

    @property
    def margin(self) -> float:
        return max(self.noise_margin, self.floor)


@dataclass
class SeedNoise:
    sigma: float  # pooled standard deviation of the final loss across seeds
    df: int

    def margin(self, *counts: int) -> float:
        """One-sided 95% margin for a difference of means over these seed counts (0: not measured)."""
        if self.df <= 0:
            return 0.0
        return t95(self.df) * self.sigma * math.sqrt(sum(1 / n for n in counts if n > 0))


def pooled_noise(rungs: Sequence[Rung]) -> SeedNoise:
    """The seed noise of THESE rungs (a rung that blew up has no noise to pool: it is reported)."""
    num, df = 0.0, 0
    for rung in rungs:
        if len(rung.losses) >= 2 and not rung.diverged:
            num += (len(rung.losses) - 1) * rung.spread**2
            df += len(rung.losses) - 1
    return SeedNoise(math.sqrt(num / df) if df else 0.0, df)


def compare(worse: Rung, better: Rung, noise: SeedNoise | None, trivial: float) -> Comparison:
    """`noise` None: the noise of the two rungs being compared (docs/probes.md), never of the others."""
    noise = pooled_noise([worse, better]) if noise is None else noise
    diff = worse.mean - better.mean
    counts = (max(len(worse.losses), 1), max(len(better.losses), 1))
    noise_margin = noise.margin(*counts)
    floor = max(RELATIVE_FLOOR * better.mean if math.isfinite(better.mean) else 0.0, TRIVIAL_FLOOR * trivial)
    margin = max(noise_margin, floor)
    if math.isnan(diff):  # both blew up: nothing to compare
        return Comparison(worse.depth, better.depth, diff, noise_margin, floor, False, "undecided")
    verdict = diff > margin
    # a "yes" is clear well beyond the margin; a "no" is clear when even the floor alone would
    # call the difference negligible, i.e. it does not rest on the seeds being noisy
    clear = diff > 2 * margin if verdict else diff <= 0.5 * floor
    return Comparison(
        worse.depth, better.depth, diff, noise_margin, floor, verdict, "clear" if clear else "marginal"
    )


@dataclass
class DepthDecision:
    deeper_model_worse: AnswerValue
    simple_model_better: AnswerValue
    rules: list[str]
    comparison: Comparison | None
    reference_comparison: dict[str, Any] | None
    noise: SeedNoise
    other_worse_pairs: list[tuple[int, int]]


def _loss_text(value: float) -> str:
    return "diverged" if math.isinf(value) else f"{value:.4g}"


def same_model(rungs: Sequence[Rung]) -> bool:
    """Every built variant has the same parameter shapes: `Setup.model` ignores its depth."""
    shapes = {tuple(r.shapes) for r in rungs if r.shapes is not None}
    return len(shapes) == 1 and sum(r.shapes is not None for r in rungs) >= 2


SAME_MODEL_RULE = (
    "every depth built the same model (identical parameter shapes): Setup.model ignores its depth "
    "argument, so the ladder compares a model with itself -> unsure. Fix the setup: make model(depth) "
    "build `depth` hidden layers (e.g. nn.Sequential of depth Linear+activation blocks)"
)


def decide(
    rungs: Sequence[Rung], user_depth: int, reference_loss: float | None, trivial: float
) -> DepthDecision:
    """The decision rules, on numbers alone (tested table-driven).

    deeper_model_worse: your depth against the best shallower variant; when nothing in the ladder is
    shallower than yours, the deeper variants against yours; every margin from the seed noise of the
    two rungs compared. Unsure when the variants are one and the same model. simple_model_better:
    the easy reference against YOUR model (your depth), not the best depth.
    """
    usable = sorted(
        (r for r in rungs if r.failed is None and (r.losses or r.diverged)), key=lambda r: r.depth
    )
    noise = pooled_noise(usable)
    user = next((r for r in usable if r.depth == user_depth), None)
    rules: list[str] = [_noise_rule(noise)]
    comparison: Comparison | None = None
    if user is None or len(usable) < 2:
        answer: AnswerValue = "unsure"
        rules.append("fewer than two depths trained: nothing to compare")
    else:
        shallower = [r for r in usable if r.depth < user.depth]
        if shallower:
            best = min(shallower, key=lambda r: r.mean)
            comparison = compare(user, best, None, trivial)
        else:
            candidates = [compare(r, user, None, trivial) for r in usable if r.depth > user.depth]
            comparison = max(candidates, key=lambda c: (c.verdict, c.difference - c.margin))
        answer = "unsure" if comparison.sureness == "undecided" else ("yes" if comparison.verdict else "no")
        rules.append(_comparison_rule(comparison, usable))
        if same_model(usable):
            answer = "unsure"
            rules.append(SAME_MODEL_RULE)
    rules += [
        f"depth {r.depth} blew up (seeds {r.diverged}): counted as worse than any finite loss, "
        "left out of the noise estimate"
        for r in usable
        if r.diverged
    ]
    others = [
        (a.depth, b.depth)
        for a in usable
        for b in usable
        if a.depth > b.depth and compare(a, b, None, trivial).verdict
    ]
    simple, ref_rule, ref_data = _reference(user, reference_loss, trivial, user_depth)
    rules.append(ref_rule)
    return DepthDecision(answer, simple, rules, comparison, ref_data, noise, others)


def _noise_rule(noise: SeedNoise) -> str:
    if noise.df == 0:
        return "seed noise not measured (one seed per depth): only the 10% floor guards the margin"
    return (
        f"seed noise: standard deviation {noise.sigma:.3g} pooled over every depth ({noise.df} degrees "
        "of freedom), for reference; each comparison uses the noise of the two rungs it compares"
    )


def _comparison_rule(c: Comparison, rungs: Sequence[Rung]) -> str:
    by_depth = {r.depth: r for r in rungs}
    worse, better = by_depth[c.worse], by_depth[c.better]
    return (
        f"depth {c.worse} reaches {_loss_text(worse.mean)} vs depth {c.better} {_loss_text(better.mean)}: "
        f"difference {c.difference:.4g} against margin {c.margin:.4g} "
        f"(max of t95 x the seed noise of these two depths {c.noise_margin:.3g}, "
        f"{RELATIVE_FLOOR:.0%} of the better loss and "
        f"{TRIVIAL_FLOOR:.0%} of the trivial loss = {c.floor:.3g}) -> deeper "
        f"{'worse' if c.verdict else 'not worse'} ({c.sureness})"
    )


def _reference(
    user: Rung | None, reference: float | None, trivial: float, user_depth: int
) -> tuple[AnswerValue, str, dict[str, Any] | None]:
    """The easy model against the user's model at the user's depth.

    yes: the user's mean is above the reference by more than the margin (t95 x the noise of the
    user's mean, 10% of the reference, 1% of the trivial loss), or EVERY run of the user's recipe
    (the user's own included) is above the reference by more than the floor -- the reference is
    deterministic, and a function the model class contains was missed by each run. no: the user's
    mean is within the floor of the reference or below. unsure in between.
    """
    if reference is None:
        return "unsure", "no easy reference model was fitted: simple_model_better left unsure", None
    if user is None or not (user.losses or user.diverged):
        return "unsure", f"your depth {user_depth} was not trained: simple_model_better left unsure", None
    if user.diverged:
        rule = (
            f"the reference reaches {reference:.4g}; your depth {user.depth} blew up -> simple model better"
        )
        return "yes", rule, {"reference_loss": reference, "user_depth": user.depth, "user_loss": None}
    diff = user.mean - reference
    noise_margin = pooled_noise([user]).margin(len(user.losses))
    floor = max(RELATIVE_FLOOR * reference, TRIVIAL_FLOOR * trivial)
    margin = max(noise_margin, floor)
    every_run = all(v - reference > floor for v in user.losses)
    answer: AnswerValue = "yes" if diff > margin or every_run else ("no" if diff <= floor else "unsure")
    data = {"reference_loss": reference, "user_depth": user.depth, "user_loss": user.mean,
            "difference": diff, "margin": margin, "floor": floor, "every_run_worse": every_run}  # fmt: skip
    why = {
        "yes": "the easy model fits better than yours"
        + (
            ""
            if diff > margin
            else f" (every one of your {len(user.losses)} runs is above it by more than the floor)"
        ),
        "no": "the easy model is not better than yours (within the floor)",
        "unsure": "the runs of your recipe disagree: some come within the floor of the easy model -> unsure",
    }[answer]
    rule = (
        f"easy reference reaches {reference:.4g}, your depth {user.depth} {user.mean:.4g} "
        f"(runs: {', '.join(f'{v:.4g}' for v in user.losses)}): difference {diff:.4g} against margin "
        f"{margin:.4g} (t95 x the noise of your depth's mean {noise_margin:.3g}, floor {floor:.3g}) -> {why}"
    )
    return answer, rule, data


# -- the ladder ------------------------------------------------------------------------------------


def parse_depths(depths: str | Sequence[int] | None) -> list[int] | None:
    if depths is None:
        return None
    if isinstance(depths, str):
        try:
            values = [int(part) for part in depths.replace(" ", "").split(",") if part]
        except ValueError as exc:
            raise ProbeError(f"depths must be comma-separated integers like 1,2,3 (got {depths!r})") from exc
    else:
        values = [int(d) for d in depths]
    if not values or any(d < 0 for d in values):
        raise ProbeError(f"depths must be non-negative integers (got {depths!r})", field="depths")
    return values


def default_ladder(setup: Setup) -> list[int]:
    """Your depth and one shallow, easy-to-optimize variant: depth 1 (depth 0, a linear model, when
    yours has one hidden layer), or the next shallowest one the model builder accepts; a deeper
    variant only when nothing shallower can be built.

    Two rungs because the whole diagnosis must cost at most about five plain training runs: two
    seeds at two depths is four runs, one of which is your own model. Give `depths` (or
    Setup.depths) for a longer, lecture-style table.
    """
    d = setup.depth
    for shallow in range(0 if d <= 1 else 1, d):
        if _buildable(setup, shallow):
            return [shallow, d]
    for deeper in (d + 1, d + 2):
        if _buildable(setup, deeper):
            return [d, deeper]
    return [d]


def _buildable(setup: Setup, depth: int) -> bool:
    return _build_error(setup, depth) is None


def _build_error(setup: Setup, depth: int) -> str | None:
    """Why `Setup.model(depth)` cannot be built (checked on the CPU before paying for training)."""
    try:
        build_model(setup, depth, resolve_device("cpu"))
    except ProbeError as exc:
        return exc.message
    return None


def train_ladder(
    ctx: ProbeContext, ladder: Sequence[int], seeds: Sequence[int], trivial: float | None = None
) -> list[Rung]:
    """Train every (depth, seed) once, the user's model first (it is already cached).

    A seed whose final loss is NaN/inf, or above BLOWUP_FACTOR x the trivial loss, blew up: it is
    recorded in `diverged`, not averaged with the finite ones. On Ray (`ctx.executor`) the other
    trainings run at once (`_train_elsewhere`) and the rungs are filled in the same order as here.
    """
    rungs = {d: Rung(d) for d in ladder}
    for depth, rung in rungs.items():
        if depth != ctx.setup.depth:
            rung.failed = _build_error(ctx.setup, depth)
    order = [(ctx.setup.depth, ctx.setup.seed)] + [(d, s) for s in seeds for d in ladder]
    order = list(dict.fromkeys(order))
    failures: dict[tuple[int, int], ProbeError] = {}
    elsewhere = not ctx.executor.is_local
    if elsewhere:
        ctx.trained()  # the user's own run stays here (its record is the learning-rate check's)
        failures = _train_elsewhere(ctx, [(d, s) for d, s in order if not rungs[d].failed], len(order))
    for i, (depth, seed) in enumerate(order, 1):
        if ctx.should_stop():
            raise ProbeCancelled("depth")
        rung = rungs[depth]
        if rung.failed:
            continue
        try:
            if (depth, seed) in failures:
                raise failures[depth, seed]
            trained = ctx.trained(depth, seed)
        except ProbeCancelled:
            raise
        except ProbeError as exc:
            if (depth, seed) == (ctx.setup.depth, ctx.setup.seed):
                raise  # the user's own model: nothing to compare without it
            if isinstance(exc, TrainingDiverged):  # training blew up: data, not an error
                rung.seeds.append(seed)
                rung.diverged.append(seed)
            else:
                rung.failed = exc.message
            continue
        rung.seeds.append(seed)
        if trivial is not None and trained.final_train_loss > BLOWUP_FACTOR * trivial:
            rung.diverged.append(seed)
        else:
            rung.losses.append(trained.final_train_loss)
        rung.seconds += trained.seconds
        rung.parameters = trained.parameters
        rung.shapes = [tuple(p.shape) for p in trained.model.parameters()]
        if not elsewhere:  # on Ray each training was reported as it finished
            ctx.progress(_rung_progress(depth, seed, trained.final_train_loss, i, len(order)))
    return [rungs[d] for d in sorted(rungs)]


def _rung_progress(
    depth: int, seed: int, loss: float, done: int, total: int, where: str = ""
) -> ProbeProgress:
    return ProbeProgress(
        probe="depth",
        done=done,
        total=total,
        message=f"depth {depth} seed {seed}: final training loss {loss:.4g}{where}",
        estimate={"loss": loss},
        series=f"depth {depth}",
    )


def _train_elsewhere(
    ctx: ProbeContext, pairs: Sequence[tuple[int, int]], total: int
) -> dict[tuple[int, int], ProbeError]:
    """Train the pairs not yet trained on the context's executor, all at once; keep each model in the
    context (other probes reuse it) and report each as it finishes. Returns the pairs that failed."""
    from probes.trainings import run_trainings, setup_training

    todo = [(d, s) for d, s in pairs if not ctx.has_trained(d, s)]
    finished = [len(pairs) - len(todo)]

    def done(i: int, _: object, result: object) -> None:
        finished[0] += 1
        depth, seed = todo[i]
        if isinstance(result, TrainedModel):
            ctx.keep_trained(result)
            ctx.progress(_rung_progress(depth, seed, result.final_train_loss, finished[0], total, " (Ray)"))

    trainings = [setup_training(ctx.setup, f"depth {d} seed {s}", depth=d, seed=s) for d, s in todo]
    ctx.trainings += len(trainings)
    results = run_trainings(trainings, ctx.executor, should_stop=ctx.should_stop, done=done)
    return {pair: r for pair, r in zip(todo, results, strict=True) if isinstance(r, ProbeError)}


def _rung_text(rung: Rung, user_depth: int) -> str:
    spread = f" ± {rung.spread:.2g}" if len(rung.losses) >= 2 else ""
    return (
        f"depth {rung.depth}{' (yours)' if rung.depth == user_depth else ''} {_loss_text(rung.mean)}{spread}"
    )


def ladder_table(rungs: Sequence[Rung], user_depth: int) -> list[str]:
    """The lecture's table: depth -> final training loss (mean ± standard deviation over seeds)."""
    lines = ["depth | final training loss | seeds"]
    for r in rungs:
        mark = " (yours)" if r.depth == user_depth else ""
        if r.failed:
            lines.append(f"{r.depth}{mark} | not built: {r.failed} | -")
            continue
        value = _loss_text(r.mean) + (f" ± {r.spread:.2g}" if len(r.losses) >= 2 else "")
        lines.append(f"{r.depth}{mark} | {value} | {len(r.seeds)}")
    return lines


def depth_probe(
    ctx: ProbeContext,
    *,
    depths: str | Sequence[int] | None = None,
    seeds: int = 2,
    executor: str | None = None,
    workers: int | None = None,
) -> ProbeOutcome:
    """`executor`/`workers` (probes/executor_options.py): where the other rungs and seeds train; the
    context's executor (local unless the diagnosis was given one) when not given."""
    started = time.perf_counter()
    setup = ctx.setup
    if seeds < 1:
        raise ProbeError(f"seeds must be at least 1 (got {seeds})", field="seeds")
    use_executor(ctx, executor, workers)
    ladder = parse_depths(depths) or (list(setup.depths) if setup.depths else default_ladder(setup))
    ladder = sorted(set(ladder) | {setup.depth})
    base = compute_baselines(ctx)
    rungs = train_ladder(ctx, ladder, [setup.seed + i for i in range(seeds)], base.trivial_loss)
    decision = decide(rungs, setup.depth, base.reference.loss, base.trivial_loss)
    table = ladder_table(rungs, setup.depth)
    warnings = [f"depth {r.depth} left out: {r.failed}" for r in rungs if r.failed]
    warnings += [f"depth {r.depth} blew up with seeds {r.diverged}" for r in rungs if r.diverged]
    if same_model(rungs):
        warnings.append(SAME_MODEL_RULE)
    else:
        sizes = {r.parameters for r in rungs if r.parameters is not None}
        if len(sizes) == 1 and sum(r.parameters is not None for r in rungs) >= 2:
            warnings.append(
                "every depth has the same number of parameters: does Setup.model use its depth argument?"
            )
    if decision.noise.df == 0:
        warnings.append("one seed per depth: seed noise not measured; use seeds >= 2 to judge it")
    c = decision.comparison
    verdict = (
        "no comparison possible"
        if c is None
        else f"depth {c.worse} is {'' if c.verdict else 'not '}worse than depth {c.better} ({c.sureness})"
    )
    summary = (
        f"Depth ladder (final training loss, mean ± sd over {seeds} seed{'s' if seeds > 1 else ''}): "
        + "; ".join(_rung_text(r, setup.depth) for r in rungs if not r.failed)
        + f". {verdict[0].upper()}{verdict[1:]}"
        + (" (but every depth is the same model: unsure)" if same_model(rungs) else "")
        + f"; easy model better than yours: {decision.simple_model_better}."
    )
    data = {
        "ladder": [r.to_dict() for r in rungs],
        "table": table,
        "user_depth": setup.depth,
        "seeds": seeds,
        "noise": asdict(decision.noise),
        "comparison": None if c is None else {**asdict(c), "margin": c.margin},
        "reference": decision.reference_comparison,
        "trivial_loss": base.trivial_loss,
        "deeper_worse_pairs": decision.other_worse_pairs,
        "trainings": ctx.trainings,
        "executor": executor_json(ctx.executor),
    }
    return ProbeOutcome(
        probe="depth",
        answers={
            "deeper_model_worse": decision.deeper_model_worse,
            "simple_model_better": decision.simple_model_better,
        },
        summary=summary,
        rules=decision.rules,
        data=json_safe(data),
        warnings=warnings,
        seconds=time.perf_counter() - started,
    )
