"""The cheaper lambda_max measurement (issue 16, session 7) measures the same numbers as before.

- The tridiagonal ends come from LAPACK's stebz + stein called directly: the same calls with the same
  arguments as `scipy.linalg.eigh_tridiagonal(select="i")`, so the same bits; and the values are the
  dense matrix's `numpy.linalg.eigvalsh` (ground truth outside both).
- A run's random start is drawn once (`RandomStart`) instead of at each measurement: every
  measurement (cold, warm, step 0's settle-below stop, the end point in both goals) gives the same
  bits as drawing it each time, and lambda_max is torch's `eigvalsh` of the exact Hessian.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from scipy.linalg import eigh_tridiagonal
from torch import nn

from probes.curvature.hessian import _ends, tridiagonal_extremes
from probes.live import RandomStart, end_point, sharpness, start_from
from tests.watch.conftest import exact_hessian_eigenvalues, mlp, regression_data

MSE = nn.MSELoss()


def _tridiagonal(rng: np.random.Generator, k: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    d = rng.normal(size=k)
    e = rng.normal(size=k - 1)
    if kind == "clustered":  # nearly repeated eigenvalues: tiny couplings around a constant diagonal
        d = 1.0 + 1e-9 * rng.normal(size=k)
        e = 1e-7 * rng.normal(size=k - 1)
    elif kind == "split":  # some couplings exactly 0: LAPACK splits the matrix into blocks
        e[rng.random(k - 1) < 0.3] = 0.0
    elif kind == "lanczos":  # positive couplings and a dominant top, as Lanczos produces
        d = np.sort(rng.exponential(size=k))[::-1] * 10
        e = np.abs(e)
    return d, e


@pytest.mark.parametrize("kind", ["random", "clustered", "split", "lanczos"])
def test_the_tridiagonal_ends_are_scipys_bits_and_the_dense_eigenvalues(kind: str) -> None:
    rng = np.random.default_rng(["random", "clustered", "split", "lanczos"].index(kind))
    for _ in range(60):
        k = int(rng.integers(3, 41))
        d, e = _tridiagonal(rng, k, kind)
        dense = np.diag(d) + np.diag(e, 1) + np.diag(e, -1)
        exact = np.linalg.eigvalsh(dense)
        scale = max(float(np.abs(exact).max()), 1e-300)
        for first, last in ((1, 2), (k - 1, k)):
            w, v = _ends(d, e, first, last)
            w_ref, v_ref = eigh_tridiagonal(d, e, select="i", select_range=(first - 1, last - 1))
            assert np.array_equal(w, w_ref) and np.array_equal(v, v_ref)
            assert np.allclose(w, exact[first - 1 : last], rtol=0, atol=1e-12 * scale)
        low, high, ends = tridiagonal_extremes(list(d), list(e) + [0.0])
        assert np.allclose(low, exact[:2], rtol=0, atol=1e-12 * scale)
        assert np.allclose(high, exact[-2:], rtol=0, atol=1e-12 * scale)
        # the last components of the extreme eigenvectors (Lanczos's residual estimate): a unit
        # eigenvector is unique up to sign where the eigenvalue is simple
        gaps = np.diff(exact)
        if kind != "clustered" and gaps[0] > 1e-6 * scale and gaps[-1] > 1e-6 * scale:
            _, vectors = np.linalg.eigh(dense)
            assert np.allclose(np.abs(ends), np.abs([vectors[-1, 0], vectors[-1, -1]]), atol=1e-8)


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))


@pytest.mark.parametrize("seed", range(6))
def test_a_kept_random_start_measures_the_same_bits_as_a_fresh_draw(seed: int) -> None:
    model = mlp(seed, hidden=int(4 + seed))
    x, y = regression_data(seed=seed)
    exact = float(exact_hessian_eigenvalues(model, lambda forward: MSE(forward(x), y))[-1])
    opt = torch.optim.SGD(model.parameters(), lr=0.5 / exact, momentum=0.9)
    kept = RandomStart()

    def loss() -> torch.Tensor:
        return MSE(model(x), y)

    # step 0 asks only whether lambda_max is far above the limit (stops early), then cold and warm
    # measurements to 1%, and both end-point goals; each with the kept draw and with a fresh one
    for _ in range(2):  # the second round reuses the kept draw from the first
        first = [
            sharpness(model, loss, opt, step=0, max_hvp=10, settle_below=0.5, random=r) for r in (kept, None)
        ]
        assert first[0] is not None and first[1] is not None
        assert first[0].to_dict() | {"seconds": 0} == first[1].to_dict() | {"seconds": 0}
        assert _same(first[0].vector, first[1].vector)
        cold = [
            sharpness(model, loss, opt, step=1, max_hvp=40, tolerance=1e-8, random=r) for r in (kept, None)
        ]
        assert cold[0] is not None and cold[1] is not None and cold[0].converged
        assert cold[0].lambda_max == cold[1].lambda_max and cold[0].hvp == cold[1].hvp
        assert _same(cold[0].vector, cold[1].vector)
        assert cold[0].lambda_max == pytest.approx(exact, rel=1e-6)
        warm = [
            sharpness(model, loss, opt, step=2, max_hvp=10, start=cold[0].vector, random=r)
            for r in (kept, None)
        ]
        assert warm[0] is not None and warm[1] is not None and warm[0].warm_start
        assert warm[0].to_dict() | {"seconds": 0} == warm[1].to_dict() | {"seconds": 0}
        assert _same(warm[0].vector, warm[1].vector)
        assert warm[0].lambda_max <= exact * (1 + 1e-9)  # a Ritz value: a lower bound
        assert (not warm[0].converged) or warm[0].lambda_max == pytest.approx(exact, rel=2e-2)
        for goal in ("decide", "accurate"):
            ends = [
                end_point(model, loss, step=3, max_hvp=30, goal=goal, start=cold[0].vector, random=r)
                for r in (kept, None)
            ]
            assert ends[0].to_dict() | {"seconds": 0} == ends[1].to_dict() | {"seconds": 0}
    # the draw is Lanczos's own seeded start: torch.randn from a generator seeded 0, in float64
    dim = sum(p.numel() for p in model.parameters())
    expected = torch.randn(dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(kept.vector(dim), expected)


@pytest.mark.parametrize("seed", range(4))
def test_a_start_vector_that_is_not_finite_falls_back_to_the_random_start(seed: int) -> None:
    """start_from reads finiteness from the norm: any NaN or infinite entry
    gives None (Lanczos's random start), as a zero vector does; a finite one gives the unit vector
    plus half the unit random vector, written out here."""
    g = torch.Generator().manual_seed(seed)
    dim = 50 + seed
    kept = RandomStart()
    v = torch.randn(dim, generator=g, dtype=torch.float64)
    noise = torch.randn(dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = v / v.norm() + 0.5 * noise / noise.norm()
    for random in (kept, None):
        assert torch.equal(start_from(v, dim, 0, random), expected)
        assert start_from(torch.zeros(dim), dim, 0, random) is None
        assert start_from(v[:-1], dim, 0, random) is None  # another model's vector
        for bad in (math.nan, math.inf, -math.inf):
            spoiled = v.clone()
            spoiled[int(torch.randint(dim, (1,), generator=g))] = bad
            assert start_from(spoiled, dim, 0, random) is None


def test_the_random_draw_is_not_planned_into_the_next_measurement(tmp_path, monkeypatch) -> None:
    """The budget cadence plans the next measurement from the last one's time; step 0 also drew the
    random start, which later measurements reuse: made slow here (0.3 s, as for a huge model), it
    is inside step 0's time and left out of the next measurement's expected cost."""
    from assistant.watch import watch

    draw = RandomStart.vector

    def slow(self: RandomStart, dim: int) -> torch.Tensor:
        if self._vector is None:
            started = time.perf_counter()
            time.sleep(0.3)
            self.draw_seconds += time.perf_counter() - started
        return draw(self, dim)

    monkeypatch.setattr(RandomStart, "vector", slow)
    model = mlp(0)
    x, y = regression_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    run = watch(model, opt, MSE, held_batch=(x, y), output_dir=tmp_path, store=False)
    run.start()
    first = run.sharpness[0]
    assert run._random.draw_seconds >= 0.3 and first.seconds >= 0.3 and first.hvp >= 3
    products = min(first.hvp, 4) / first.hvp
    assert run._next_cost == pytest.approx((first.seconds - run._random.draw_seconds) * products, rel=1e-9)
    assert run._next_cost < first.seconds - 0.25


@pytest.mark.parametrize("budget", [0.02, 0.03])
def test_the_first_measurement_after_step_0_holds_no_reserve(tmp_path, budget: float) -> None:
    """The budget rule with its numbers set by hand (step 0 took s, the next is expected to take c,
    the training so far lasted t): the first measurement after step 0 is due once s + c <= budget
    t; every later one once spent + c + a reserve c for the end point <= budget t (and, for both,
    once c / budget of training has passed since the last one)."""
    from assistant.watch import watch

    model = mlp(0)
    x, y = regression_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    run = watch(model, opt, MSE, held_batch=(x, y), output_dir=tmp_path, store=False, budget=budget)
    s, c = 0.010, 0.008

    def due_at(training: float) -> bool:
        run.started, run.own_seconds = time.perf_counter() - training, 0.0
        return run._within_budget()

    run.measure_seconds, run._next_cost, run._last_measured_at = s, c, 0.0
    first = (s + c) / budget  # e.g. 0.9 s at budget 0.02
    assert not due_at(0.9 * first) and due_at(1.1 * first)
    run.measure(5)  # a measurement after step 0: the reserve applies from now on
    spent = s + c
    run.measure_seconds, run._next_cost, run._last_measured_at = spent, c, first
    later = (spent + 2 * c) / budget
    assert later > first + c / budget  # the spending rule decides here, not the spacing
    assert not due_at(0.97 * later) and due_at(1.03 * later)
