"""A watched training run: points in, alerts out as their rule fires, a diagnosis at the end.

The integrations (hf, lightning, keras, torch) translate their framework's events into `Run` calls
and give it a way to print (`emit`); everything they share lives here. Computation is in
`probes.live`; the report, the stored session and the service upload are in `_report`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from assistant.watch._stream import Streamer
from probes.base import ProbeError
from probes.history import HistoryOptions
from probes.history._models import Split
from probes.live import (
    Alert,
    EndPoint,
    LiveHistory,
    RandomStart,
    Sharpness,
    Threshold,
    end_point,
    judged,
    sharpness,
    threshold_of,
)

Emit = Callable[[str, str], None]  # (level "info" | "warning", one line)
LossOf = Callable[[nn.Module, Any], torch.Tensor]  # (model, held batch) -> scalar loss

_log = logging.getLogger("traindoc.watch")
# step 0 stops once lambda_max is clearly below this share of the threshold (the first sharpening band)
START_SETTLE_BELOW = 0.5


def log_emit(level: str, message: str) -> None:
    """The default printer: Python logging under "traindoc.watch" (warnings reach stderr unconfigured)."""
    _log.log(logging.WARNING if level == "warning" else logging.INFO, message)


class Run:
    """One watched run. Feed it with `train_step` / `evaluation` / `metric`, close it with `finish`.

    Curvature (lambda_max on `held_batch` through `loss_of`) is measured at step 0, then every
    `curvature_every` steps, or by default whenever the next measurement still fits the budget: all
    curvature time so far (step 0 included), the next measurement's expected cost and a reserve for
    the end point (from the second measurement after step 0 on) stay within `budget` of the training
    time seen so far, so the whole curvature cost
    stays near `budget` whatever the model's size (a run too short for it gets step 0 and the end
    only). Each measurement after the first starts Lanczos from the previous top eigenvector. At the
    end, the gradient norm and the extreme eigenvalues, measured only as far as the flowchart's
    question needs (`end_goal="decide"`). `curvature=False`, or no held batch, turns it off.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        held_batch: Any = None,
        loss_of: LossOf | None = None,
        output_dir: str | Path = "traindoc-watch",
        name: str | None = None,
        framework: str = "torch",
        emit: Emit = log_emit,
        curvature: bool = True,
        curvature_every: int | None = None,
        # 2.5% (3% until session 7): each measurement got ~25% cheaper and the first one after step 0
        # holds no reserve, so it comes earlier than before all the same (the sharpening, steps
        # 50-1,000 on the benchmark MLP, at ~550); at 3% the tiny benchmark MLP stayed at ~4.9%
        # of its training time in all, against the 5% goal (docs/watch.md, session 7)
        budget: float = 0.025,
        max_hvp: int = 10,  # lambda_max alone: Lanczos has it to ~1e-2 in about 10 products cold
        end_max_hvp: int = 30,  # lambda_min too, once, when the gradient is small
        end_goal: str = "decide",
        mode: str = "eval",
        threshold: Callable[[], Threshold] | None = None,
        classes: int | None = None,
        baseline: float | None = None,
        patience: int = 3,
        total_steps: float | None = None,
        store: bool = True,
        db_path: str | Path | None = None,
        server: str | None = None,
        token: str | None = None,
        stream: bool = True,
        stream_every: float = 2.0,
        sync_every: int | None = None,
        # 0.5% (1% until session 7): the analyses' alerts (plateau, spikes, overfitting) are about
        # trends of hundreds of steps and come a little later; the NaN/inf alert never waits and the
        # final analysis always runs (docs/watch.md, session 7)
        analysis_budget: float = 0.005,
    ) -> None:
        if sync_every is not None and sync_every < 1:
            raise ValueError("sync_every must be a positive number of steps (or None: 16)")
        if curvature_every is not None and curvature_every < 1:
            raise ValueError("curvature_every must be a positive number of steps (or None for the budget)")
        if not 0 < analysis_budget <= 1:
            raise ValueError("analysis_budget must be a fraction of the training time, e.g. 0.005")
        if not 0 < budget < 1:
            raise ValueError("budget must be a fraction of the training time between 0 and 1, e.g. 0.02")
        if end_goal not in ("decide", "accurate"):
            raise ValueError('end_goal must be "decide" or "accurate"')
        if mode not in ("eval", "train"):
            raise ValueError('mode must be "eval" or "train"')
        self.model, self.optimizer = model, optimizer
        self.held_batch, self.loss_of = held_batch, loss_of
        self.output_dir = Path(output_dir)
        self.name = name or self.output_dir.resolve().name
        self.framework, self.emit = framework, emit
        self.curvature_on = bool(curvature and model is not None and held_batch is not None and loss_of)
        self.curvature_every, self.budget = curvature_every, budget
        self.max_hvp, self.end_max_hvp, self.mode = max_hvp, end_max_hvp, mode
        self.end_goal = end_goal
        self._threshold_of = threshold  # for optimizers that are not torch's (Keras)
        self.options = HistoryOptions(classes=classes, baseline=baseline, patience=patience)
        self.live = LiveHistory(f"watch:{self.name}", self.options, total_steps=total_steps)
        # the history analyses during the run (each reads the whole history) on a time budget too:
        # a due analysis waits while the analyses so far plus the next would exceed this share of
        # the training time (a run of very fast steps would otherwise spend a large share there);
        # the final analysis always runs, and the O(1) NaN/inf check never waits
        self.analysis_budget = analysis_budget
        self.store, self.db_path = store, db_path
        self.server, self.token = server, token
        self.alerts: list[Alert] = []
        self.sharpness: list[Sharpness] = []
        self.end: EndPoint | None = None
        self.notes: list[str] = []
        self._curvature_wanted = curvature
        self.started = time.perf_counter()
        self.own_seconds = 0.0  # time spent in traindoc (analysis, curvature, reporting)
        self.measure_seconds = 0.0
        self._next_cost = 0.0  # expected seconds of the next lambda_max measurement (budget cadence)
        self._last_measured_at = 0.0  # training seconds at the last measurement
        self._measured_after_start = False  # some measurement after step 0 (the reserve, below)
        self._top_vector: torch.Tensor | None = None  # the last top eigenvector: the next start
        self._top_preconditioned = False
        self._random = RandomStart()  # the random start, drawn once for every measurement
        self.last_step: float = 0
        self.finished = False
        self._bands: list[float] = []  # sharpening bands already reported
        # logged training steps not fed yet (`queue`), column by column: fed `sync_every` steps at a
        # time (per point, the bookkeeping was the largest part of the watch's cost on a small model)
        self.sync_every = sync_every or 16
        # (step, loss, learning rate, epoch) per queued step: one tuple and one append a step (four
        # lists cost four appends; inside a training loop each is ~1 us, docs/watch.md). The loss is
        # a detached tensor on an accelerator until the batch is read
        self._queued: list[tuple[float, float | torch.Tensor, float | None, float | None]] = []
        self._norms: list[tuple[float, float]] = []
        self._on_device = False  # some loss in the batch is still a tensor on its device
        # the last step fed (the spacing of the logged steps); while steps are queued, the last
        # queued one is `_queued[-1][0]`
        self._queued_to: float = 0
        self._plain_until = 0  # TorchRun.step: the next step its short path does not cover
        # with a server: the points go there while the run trains (a background thread, _stream)
        self.streamer: Streamer | None = None
        if server and stream:
            self.streamer = Streamer(server, token, emit, interval=stream_every)

    def hold(self, batch: Any) -> None:
        """Keep `batch` (the caller passes a copy) as the held batch, if none is held yet."""
        if self.held_batch is None and batch is not None:
            self.held_batch = batch
            self.curvature_on = bool(self._curvature_wanted and self.model is not None and self.loss_of)

    def start(self) -> list[Alert]:
        """Measure at the initial weights (step 0), before the first update: a learning rate far above
        the limit can throw the run into a flatter region at its very first step (a catapult), after
        which no later measurement would show it. Adam has no statistics yet and is skipped."""
        t0 = time.perf_counter()
        try:
            if not self.curvature_on or self.sharpness:
                return []
            # the question here is a catapult: far below the limit, Lanczos stops once that is clear
            # (~3 products instead of ~10 on the benchmark's MLP and CNN), not at 1% precision
            return self.measure(0, settle_below=START_SETTLE_BELOW)
        finally:
            self.own_seconds += time.perf_counter() - t0

    # -- feeding ------------------------------------------------------------------------------------

    def train_step(
        self,
        step: float,
        loss: float | torch.Tensor,
        *,
        learning_rate: float | None = None,
        grad_norm: float | torch.Tensor | None = None,
        epoch: float | None = None,
        measure: bool = True,
    ) -> list[Alert]:
        """Record a training loss (and the LR / gradient norm at that step); returns new alerts."""
        t0 = time.perf_counter()
        self.last_step = step
        if learning_rate is None and self.optimizer is not None:
            learning_rate = float(self.optimizer.param_groups[0]["lr"])
        streamer = self.streamer
        if learning_rate is not None:
            self.live.add("learning_rate", learning_rate, step, role="learning_rate", epoch=epoch)
            if streamer is not None:
                streamer.point("learning_rate", step, learning_rate)
        if grad_norm is not None:
            norm = _number(grad_norm)
            self.live.add("grad_norm", norm, step, role="grad_norm", epoch=epoch)
            if streamer is not None:
                streamer.point("grad_norm", step, norm)
        value = _number(loss)
        self.live.add("loss", value, step, epoch=epoch)
        if streamer is not None:
            streamer.point("loss", step, value)
        new = self._publish()
        if measure and self.curvature_on and math.isfinite(value):
            new += self._maybe_measure(step)
        self.own_seconds += time.perf_counter() - t0
        return new

    def queue(
        self,
        step: float,
        loss: float | torch.Tensor,
        *,
        learning_rate: float | None = None,
        grad_norm: float | torch.Tensor | None = None,
        epoch: float | None = None,
    ) -> list[Alert]:
        """`train_step`, batched: the point waits with the others until the batch covers
        `sync_every` steps (or an evaluation, the end of the run, or a multiple of
        `curvature_every`), then the batch is fed in one `train_steps` call. The same points and
        the same alerts as feeding each step at once (every point and alert names its own step, a
        NaN or divergence warning quotes the learning rate at its step); the warnings come out up to
        `sync_every` - 1 steps later. A loss on an accelerator stays there until the batch is read
        in one transfer. Logged steps spaced `sync_every` or more apart are fed at once."""
        self._plain_until = 0  # TorchRun.step's short path assumes it alone fills the batch
        return self._queue(time.perf_counter(), step, loss, learning_rate, grad_norm, epoch)

    def _queue(
        self,
        t0: float,
        step: float,
        loss: float | torch.Tensor,
        learning_rate: float | None,
        grad_norm: float | torch.Tensor | None,
        epoch: float | None,
    ) -> list[Alert]:
        # runs at every step of a training loop: the fewest calls that do the job (measured on the
        # overhead benchmark, where this is most of the watch's per-step cost)
        queued = self._queued
        gap = step - (queued[-1][0] if queued else self._queued_to)
        value: float | torch.Tensor
        if not isinstance(loss, torch.Tensor):
            value = float(loss)
        elif loss.is_cpu:
            try:
                value = loss.item()  # nothing to wait for on the CPU
            except RuntimeError:  # more than one element
                value = float(loss.detach().float().mean())
        elif loss.numel() != 1:
            value = float(loss.detach().float().mean())
        else:
            value = loss.detach()
            self._on_device = True
        if learning_rate is None and self.optimizer is not None:
            learning_rate = float(self.optimizer.param_groups[0]["lr"])
        queued.append((step, value, learning_rate, epoch))
        if grad_norm is not None:
            self._norms.append((step, _number(grad_norm)))
        full = len(queued) * max(gap, 1) >= self.sync_every or (
            self.curvature_every is not None and step % self.curvature_every == 0
        )
        self.own_seconds += time.perf_counter() - t0
        return self.flush() if full else []

    def flush(self) -> list[Alert]:
        """Feed the queued steps (read in one transfer from an accelerator), in order; curvature,
        when due, after the last (it measures the weights as they are now)."""
        queued = self._queued
        if not queued:
            return []
        t0 = time.perf_counter()
        norms = self._norms
        self._queued, self._norms = [], []
        steps, losses, rates, epochs = zip(*queued, strict=True)  # columns, in C
        self._queued_to = steps[-1]
        if self._on_device:
            self._on_device = False
            tensors = [v for v in losses if isinstance(v, torch.Tensor)]
            read = iter(torch.stack([t.reshape(()) for t in tensors]).double().tolist())
            losses = tuple(next(read) if isinstance(v, torch.Tensor) else v for v in losses)
        self.own_seconds += time.perf_counter() - t0
        return self.train_steps(
            steps,
            losses,  # every tensor was read above
            learning_rates=rates,
            grad_norms=norms,
            epochs=None if epochs.count(None) == len(epochs) else epochs,  # count: in C
        )

    def train_steps(
        self,
        steps: Sequence[float],
        losses: Sequence[float],
        *,
        learning_rates: Sequence[float | None] | None = None,
        grad_norms: Sequence[tuple[float, float]] | None = None,
        epochs: Sequence[float | None] | None = None,
    ) -> list[Alert]:
        """Several logged training steps at once, in order (`train_step` for each, batched): every
        point joins the history with its own step, a NaN or infinite loss fires its alert naming its
        own step, and the flowchart's warnings are checked once, after the last point (so they are
        printed up to one batch late); curvature, when due, is measured after the last point, on the
        weights as they are now. `learning_rates` (None where a step has none) and `epochs` run along
        `steps`; `grad_norms` are (step, norm) pairs for the steps that have one. Returns the new
        alerts."""
        if not steps:
            return []
        t0 = time.perf_counter()
        self.last_step = steps[-1]
        streamer = self.streamer
        rates: Sequence[float | None] = learning_rates or [None] * len(steps)
        if streamer is not None:  # the service gets the points in the order train_step sends them
            norms = dict(grad_norms or ())
            for step, loss, rate in zip(steps, losses, rates, strict=True):
                if rate is not None:
                    streamer.point("learning_rate", step, rate)
                if step in norms:
                    streamer.point("grad_norm", step, norms[step])
                streamer.point("loss", step, loss)
        # the learning rate before the loss: a divergence alert quotes the learning rate at its step
        if learning_rates is not None:
            if None not in rates:  # in C: this runs once per batch
                self.live.extend("learning_rate", steps, rates, role="learning_rate", epochs=epochs)  # type: ignore[arg-type]
            else:
                kept = [i for i, r in enumerate(rates) if r is not None]
                self.live.extend(
                    "learning_rate",
                    [steps[i] for i in kept],
                    [rates[i] for i in kept],  # type: ignore[misc]
                    role="learning_rate",
                    epochs=None if epochs is None else [epochs[i] for i in kept],
                )
        self.live.extend("loss", steps, losses, epochs=epochs)
        if grad_norms:
            at = dict(zip(steps, epochs, strict=True)) if epochs is not None else None
            self.live.extend(
                "grad_norm",
                [s for s, _ in grad_norms],
                [n for _, n in grad_norms],
                role="grad_norm",
                epochs=None if at is None else [at.get(s) for s, _ in grad_norms],
            )
        new = self._publish()
        if self.curvature_on and math.isfinite(losses[-1]):
            new += self._maybe_measure(steps[-1])
        self.own_seconds += time.perf_counter() - t0
        return new

    def evaluation(
        self,
        step: float,
        loss: float | torch.Tensor,
        *,
        name: str = "val_loss",
        split: Split = "val",
        epoch: float | None = None,
    ) -> list[Alert]:
        """Record a held-out loss (validation by default), after the queued training steps; returns
        new alerts."""
        queued = self.flush()
        t0 = time.perf_counter()
        value = _number(loss)
        self.live.add(name, value, step, split=split, epoch=epoch)
        if self.streamer is not None:
            self.streamer.point(name, step, value)
        new = self._publish()
        self.own_seconds += time.perf_counter() - t0
        return queued + new

    def metric(self, step: float, name: str, value: float, *, split: Split = "val") -> None:
        self.flush()  # after the training points logged before it, as when fed one by one
        number = _number(value)
        self.live.add(name, number, step, role="metric", split=split)
        if self.streamer is not None:
            self.streamer.point(name, step, number)

    # -- curvature ----------------------------------------------------------------------------------

    def training_seconds(self) -> float:
        return time.perf_counter() - self.started - self.own_seconds

    def _maybe_measure(self, step: float) -> list[Alert]:
        if not self.curvature_on:
            return []
        if self.curvature_every is not None:
            if step % self.curvature_every:
                return []
        elif not self._within_budget():
            return []
        return self.measure(step)

    def _within_budget(self) -> bool:
        """Whether the next measurement keeps all curvature time (spent, next, and a reserve of one
        more for the end point) within `budget` of the training time so far, and comes at least its
        own cost / `budget` of training after the last one (spread over the run, not spent in a burst
        once the budget has grown).

        The first measurement after step 0 holds no reserve back: it is the one that can see the
        progressive sharpening early in a run (steps 50-1,000 on the benchmark MLP), and the reserve
        put it off by half again (at (step 0 + 2 measurements) / budget of training instead of
        (step 0 + 1) / budget). Every later one holds the reserve, so a run that goes on past the
        second measurement ends within `budget`; one that stops between the first and the second
        can end at up to 1.5x `budget` (a run of about three measurements' cost / `budget` of
        training: ~1 s on the benchmark MLP)."""
        now = self.training_seconds()
        if now < self._last_measured_at + self._next_cost / self.budget:
            return False
        reserve = self._next_cost if self._measured_after_start else 0.0
        return self.measure_seconds + self._next_cost + reserve <= self.budget * now

    def measure(self, step: float | None = None, *, settle_below: float | None = None) -> list[Alert]:
        """lambda_max now, against the optimizer's threshold (also callable by hand); `settle_below`:
        see `probes.live.sharpness`."""
        if not self.curvature_on or self.model is None:  # curvature_on implies a model
            return []
        step = self.last_step if step is None else step
        t0 = time.perf_counter()
        drawn = self._random.draw_seconds
        try:
            result = sharpness(
                self.model,
                self._held_loss,
                self.optimizer,
                step=step,
                threshold=self.threshold(),
                max_hvp=self.max_hvp,
                mode=self.mode,
                start=self._top_vector,
                settle_below=settle_below,
                random=self._random,
            )
        except ProbeError as exc:
            return self._curvature_failed(step, exc)
        finally:
            self.measure_seconds += time.perf_counter() - t0
        if result is None:  # Adam before its first step: no statistics to precondition with yet
            return []
        # only a converged top eigenvector is a good start: an unconverged Ritz vector can lean on a
        # lower eigenvector, and a start leaning on one can settle there (seen on the benchmark run:
        # 4.19 instead of 4.78 after an unconverged step-0 measurement)
        self._top_vector, result.vector = (result.vector if result.converged else None), None
        self._top_preconditioned = result.preconditioned
        # the next one: about as many products as the last warm one; after a cold one (step 0) as
        # many as a warm one takes (3-5 on the benchmark run). Without the random start's one-time
        # draw (inside step 0's time): the next measurements reuse it, and an estimate that counts
        # it puts the first measurement of the cadence off for nothing
        one_time = self._random.draw_seconds - drawn
        per_product = max(result.seconds - one_time, 0.0) / max(result.hvp, 1)
        self._next_cost = per_product * (result.hvp if result.warm_start else min(result.hvp, 4))
        self._last_measured_at = self.training_seconds()
        self._measured_after_start = self._measured_after_start or step > 0
        self.sharpness.append(result)
        return self._sharpness_alerts(result)

    def threshold(self) -> Threshold:
        """The optimizer's threshold at the learning rate in use; a schedule that has decayed to 0 at
        the end is read at the last positive learning rate logged."""
        if self._threshold_of is not None:
            return self._threshold_of()
        lr: float | None = None
        if self.optimizer is not None:
            lr = float(self.optimizer.param_groups[0]["lr"])
        if not lr or lr <= 0:
            lr = self.live.last_positive("learning_rate")
        return threshold_of(self.optimizer, lr)

    def _held_loss(self) -> torch.Tensor:
        assert self.loss_of is not None and self.model is not None  # called only when curvature_on
        return self.loss_of(self.model, self.held_batch)

    def _curvature_failed(self, step: float, exc: ProbeError) -> list[Alert]:
        self.curvature_on = False
        alert = Alert(
            kind="curvature_unavailable",
            step=step,
            message=f"curvature not measured from step {step:g} on: {exc.message}",
        )
        self.notes.append(alert.message)
        return self._emit([alert], "info")

    def _sharpness_alerts(self, s: Sharpness) -> list[Alert]:
        if (
            self.streamer is not None
        ):  # the team view draws them against each other (tui/widgets/run_curves.py)
            self.streamer.point("lambda_max", s.step, s.lambda_max)
            if s.threshold is not None:
                self.streamer.point("stability_threshold", s.step, s.threshold)
        name = "preconditioned lambda_max" if s.preconditioned else "lambda_max"
        if s.threshold is None:
            if len(self.sharpness) == 1:
                self.emit(
                    "info", f"step {s.step:g}: {name} {s.lambda_max:.4g} (no stability threshold known)"
                )
            return []
        fired = any(a.kind == "edge_of_stability" for a in self.alerts)
        if s.exceeds and not fired:
            alert = Alert(
                kind="edge_of_stability",
                step=s.step,
                message=f"step {s.step:g}: {name} {s.lambda_max:.4g} is above the stability threshold "
                f"{s.threshold:.4g} of {s.kind.upper()} at lr {self._lr(s.step)} ({s.ratio:.2f}x): the "
                "learning rate is too large for the sharpest direction (edge of stability or divergence)",
                data=s.to_dict(),
            )
            return self._record([alert])
        # progressive sharpening as it happens: one line per band crossed (50%, 80% of the threshold)
        band = max((b for b in (0.5, 0.8) if (s.ratio or 0) >= b), default=0.0)
        if band > self._band():
            self.emit(
                "info",
                f"step {s.step:g}: {name} {s.lambda_max:.4g} is {s.ratio:.0%} of the stability threshold "
                f"{s.threshold:.4g} (sharpening)",
            )
            self._bands.append(band)
        return []

    def _band(self) -> float:
        return max(self._bands, default=0.0)

    def _lr(self, step: float) -> str:
        lr = self.live.learning_rate_at(step) if self.live.points("learning_rate") else None
        if lr is None:  # before the first logged step (the step-0 measurement): the optimizer's own
            lr = self.threshold().learning_rate
        return "?" if lr is None else f"{lr:.3g}"

    # -- alerts -------------------------------------------------------------------------------------

    def _publish(self) -> list[Alert]:
        return self._record(self.live.check(afford=self._analysis_affordable))

    def _analysis_affordable(self, seconds: float) -> bool:
        return self.live.analysis_seconds + seconds <= self.analysis_budget * self.training_seconds()

    def _record(self, alerts: list[Alert]) -> list[Alert]:
        return self._emit(alerts, "warning")

    def _emit(self, alerts: list[Alert], level: str) -> list[Alert]:
        for alert in alerts:
            self.alerts.append(alert)
            self.emit(level, f"traindoc: {alert.message}")
            if self.streamer is not None:
                self.streamer.alert(alert.message)
        return alerts

    # -- the end ------------------------------------------------------------------------------------

    def finish(self) -> Any:
        """Final analysis, end-point curvature, report files, stored session; returns the WatchReport."""
        from assistant.watch._report import finish_run

        if self.finished:
            raise RuntimeError("this run has already finished")
        self.flush()
        self.finished = True
        t0 = time.perf_counter()
        if self._curvature_wanted and not self.sharpness and self.curvature_on is False and not self.notes:
            self.notes.append("curvature not measured: no model, held batch or loss function was given")
        self._record(self.live.check(force=True))
        if (
            self.curvature_on
            and self.live.points("loss")
            and math.isfinite(self.live.value_at("loss", self.last_step) or math.nan)
        ):
            self._end_point()
            self._final_sharpness()
        if self.streamer is not None:
            self.streamer.close()  # the last points, before the outcomes go to the same session
        self.own_seconds += time.perf_counter() - t0
        return finish_run(self)

    def _final_sharpness(self) -> None:
        """lambda_max at the end: the end point's own when the threshold is on the plain Hessian (no
        second Lanczos run), a preconditioned measurement for Adam."""
        if self.sharpness and self.sharpness[-1].step == self.last_step:
            return
        threshold = self.threshold()
        if threshold.preconditioned or self.end is None:
            self.measure(self.last_step)
            return
        result = judged(
            step=self.end.step,
            lambda_max=self.end.lambda_max,
            converged=self.end.lambda_max_converged,
            threshold=threshold,
            hvp=0,
            seconds=0.0,
            loss=self.end.loss,
        )
        self.sharpness.append(result)
        self._sharpness_alerts(result)

    def _end_point(self) -> None:
        if not self.curvature_on or self.model is None:  # curvature_on implies a model
            return
        t0 = time.perf_counter()
        try:
            self.end = end_point(
                self.model,
                self._held_loss,
                step=self.last_step,
                max_hvp=self.end_max_hvp,
                mode=self.mode,
                goal=self.end_goal,
                top_tolerance=1e-2,  # lambda_max for the stability check: the cadence's tolerance
                # the previous top eigenvector of the same (plain) Hessian is a good start
                start=None if self._top_preconditioned else self._top_vector,
                random=self._random,
            )
        except ProbeError as exc:
            self.notes.append(f"end-point curvature not measured: {exc.message}")
        finally:
            self.measure_seconds += time.perf_counter() - t0


def _number(value: float | torch.Tensor) -> float:
    if isinstance(value, torch.Tensor):
        # .item() is one sync and no new tensor: this runs at every step
        return float(value.item()) if value.numel() == 1 else float(value.detach().float().mean())
    return float(value)
