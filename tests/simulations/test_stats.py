"""Confidence intervals: coverage and edge cases."""
import numpy as np
import pytest
from scipy.stats import binomtest

from simulations.stats import (cluster_interval, clopper_pearson_interval, half_width, interval,
                               wilson_interval)


def test_wilson_edges():
    lo, hi = wilson_interval(0, 100)
    assert lo == 0.0 and 0.03 < hi < 0.04
    lo, hi = wilson_interval(100, 100)
    assert hi == 1.0 and 0.96 < lo < 0.97
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_clopper_pearson_matches_scipy():
    for k, n in [(0, 50), (3, 50), (50, 50), (400, 10_000)]:
        ci = binomtest(k, n).proportion_ci(0.95, method="exact")
        assert np.allclose(clopper_pearson_interval(k, n), (ci.low, ci.high))


def test_wilson_coverage():
    # 2000 binomial experiments at p = 0.1, n = 200: coverage within [0.93, 0.97]
    rng = np.random.default_rng(0)
    ks = rng.binomial(200, 0.1, size=2000)
    cover = np.mean([lo <= 0.1 <= hi for lo, hi in (wilson_interval(k, 200) for k in ks)])
    assert 0.93 <= cover <= 0.97


def test_bad_counts_and_method():
    with pytest.raises(ValueError):
        wilson_interval(5, 3)
    with pytest.raises(ValueError, match="valid"):
        interval(1, 2, "bayes")
    assert half_width(50, 100) == pytest.approx(0.0962, abs=1e-3)


def test_cluster_interval_widens_for_correlated_trials():
    # 100 samples of 100 trials; all 500 errors in 5 samples (a deep fade each)
    clustered = cluster_interval(500, 10_000, 100, 5 * 100 ** 2)
    spread = cluster_interval(500, 10_000, 100, 100 * 5 ** 2)      # 5 errors in every sample
    binom = clopper_pearson_interval(500, 10_000)
    assert clustered[1] - clustered[0] > 5 * (binom[1] - binom[0])
    assert spread == binom                                          # never narrower than binomial
    assert cluster_interval(0, 1000, 10, 0) == clopper_pearson_interval(0, 1000)
