"""95% confidence intervals for Monte-Carlo error counts.

- :func:`wilson_interval` for per-example proportions (accuracy, BLER): the
  Wilson score interval, well behaved at 0 and n errors.
- :func:`clopper_pearson_interval` for BER: the exact (conservative) binomial
  interval. Bit errors inside one codeword are not independent, so any
  binomial interval on bits is optimistic for coded links; the README says so.
- :func:`normal_interval`: the textbook Wald interval, for comparison.
- :func:`cluster_interval`: when each Monte-Carlo sample (a codeword, a fading
  block) carries m correlated trials, the binomial intervals above are far too
  narrow (one deep fade flips many bits at once). With the per-sample error
  counts' sum of squares the engine computes the cluster-robust (between-sample)
  standard error and reports the wider of it and the exact binomial interval.
"""
from __future__ import annotations

import math

from scipy.stats import beta, norm

__all__ = ["wilson_interval", "clopper_pearson_interval", "normal_interval", "z_value",
           "interval", "half_width", "cluster_interval"]


def z_value(confidence: float = 0.95) -> float:
    """Two-sided standard-normal quantile (1.96 for 95%)."""
    return float(norm.ppf(0.5 + confidence / 2))


def _check(k: float, n: float) -> None:
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= errors <= trials, got errors={k}, trials={n}")


def wilson_interval(k: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``k/n``; ``(0, 1)`` when ``n = 0``."""
    _check(k, n)
    if n == 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k == 0 else max(0.0, centre - half)   # exact ends, no rounding residue
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def clopper_pearson_interval(k: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial (Clopper-Pearson) interval for ``k`` errors in ``n`` trials."""
    _check(k, n)
    if n == 0:
        return 0.0, 1.0
    a = 1 - confidence
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def normal_interval(k: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wald (normal-approximation) interval, clipped to [0, 1]."""
    _check(k, n)
    if n == 0:
        return 0.0, 1.0
    p = k / n
    h = z_value(confidence) * math.sqrt(p * (1 - p) / n)
    return max(0.0, p - h), min(1.0, p + h)


_METHODS = {"wilson": wilson_interval, "clopper-pearson": clopper_pearson_interval,
            "normal": normal_interval}


def interval(k: float, n: float, method: str = "wilson",
             confidence: float = 0.95) -> tuple[float, float]:
    """Interval of an error *rate* ``k/n`` by ``method`` (wilson, clopper-pearson, normal)."""
    if method not in _METHODS:
        raise ValueError(f"unknown interval method {method!r}; valid: {', '.join(_METHODS)}")
    return _METHODS[method](k, n, confidence)


def half_width(k: float, n: float, method: str = "wilson", confidence: float = 0.95) -> float:
    """Half the width of the interval: the stopping rule's precision measure."""
    lo, hi = interval(k, n, method, confidence)
    return (hi - lo) / 2


def cluster_interval(errors: float, trials: float, samples: int, errors_sq: float,
                     method: str = "clopper-pearson", confidence: float = 0.95) -> tuple[float, float]:
    """Interval for a rate whose trials come in ``samples`` equal clusters (samples as units).

    ``errors_sq`` is the sum over samples of the squared per-sample error count. The
    between-sample variance of the per-sample rate gives the standard error of the
    overall rate; the result is the union of that normal interval and ``method``'s
    binomial interval (never narrower than the binomial one).
    """
    lo, hi = interval(errors, trials, method, confidence)
    if samples < 2 or trials == 0:
        return lo, hi
    m = trials / samples                                 # trials per sample
    mean = errors / samples                              # mean errors per sample
    var = max(0.0, (errors_sq - samples * mean * mean) / (samples - 1))
    se = math.sqrt(var / samples) / m
    p = errors / trials
    h = z_value(confidence) * se
    return min(lo, max(0.0, p - h)), max(hi, min(1.0, p + h))
