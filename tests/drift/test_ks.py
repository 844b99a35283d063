"""The numpy two-sample KS test against scipy's (``method="asymp"``), which the server image does not have."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from app.ks import kolmogorov_sf, ks_2samp

SIZES = [(2000, 100), (2000, 1000), (1000, 2000), (800, 1000), (500, 500), (100, 100), (37, 1500), (50, 80)]
SHIFTS = [0.0, 0.05, 0.1, 0.2, 0.4, 1.0]


@pytest.mark.parametrize(("n", "m"), SIZES)
def test_statistic_and_p_value_match_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 10_000 + m)
    worst = 0.0
    for shift in SHIFTS:
        for _ in range(10):
            baseline, live = rng.normal(size=n), rng.normal(shift, 1.0, size=m)
            expected = stats.ks_2samp(baseline, live, method="asymp")

            statistic, p_value = ks_2samp(np.sort(baseline), live)

            assert statistic == pytest.approx(expected.statistic, abs=1e-12)
            worst = max(worst, abs(p_value - expected.pvalue))
    assert worst < 1e-3


def test_ties_and_other_distributions_match_scipy() -> None:
    rng = np.random.default_rng(3)
    for baseline, live in [
        (rng.integers(0, 10, 1000).astype(float), rng.integers(0, 11, 300).astype(float)),  # heavy ties
        (rng.gamma(2.0, 1.5, 2000), rng.gamma(2.2, 1.5, 700)),
        (rng.uniform(800, 4000, 2000), rng.uniform(800, 4100, 1000)),
    ]:
        expected = stats.ks_2samp(baseline, live, method="asymp")

        statistic, p_value = ks_2samp(np.sort(baseline), live)

        assert statistic == pytest.approx(expected.statistic, abs=1e-12)
        assert p_value == pytest.approx(expected.pvalue, abs=1e-3)


def test_extremes() -> None:
    sample = np.arange(500, dtype=float)

    assert ks_2samp(sample, sample[::-1]) == (0.0, 1.0)
    statistic, p_value = ks_2samp(sample, sample + 1000)  # disjoint supports
    assert statistic == 1.0 and p_value < 1e-100
    with pytest.raises(ValueError, match="non-empty"):
        ks_2samp(sample, np.array([]))


def test_kolmogorov_survival_function_matches_scipy_everywhere() -> None:
    x = np.concatenate([np.linspace(-1, 4, 2001), [0.81999, 0.82, 0.82001, 6.0]])

    ours = np.array([kolmogorov_sf(v) for v in x])

    np.testing.assert_allclose(ours, stats.kstwobign.sf(x), atol=1e-14, rtol=1e-9)
