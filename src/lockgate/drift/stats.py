"""Two-sample statistics for drift, pure numpy: how far a recent sample is from a baseline one.

Every function takes the baseline first and the recent sample second and returns a float that
is 0 for identical distributions and grows with the shift (the rate difference keeps its sign;
the detector compares its absolute value)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

PSI_EPSILON = 1e-4


def _matrix(x: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError("a sample must be a non-empty list of vectors")
    return arr


def centroid_cosine_distance(baseline: ArrayLike, recent: ArrayLike) -> float:
    """1 - cos(mean(baseline), mean(recent)): 0 when the centroids point the same way, 1 when
    orthogonal. A zero centroid has no direction, so it is as far as orthogonal."""
    a, b = _matrix(baseline).mean(axis=0), _matrix(recent).mean(axis=0)
    if a.shape != b.shape:
        raise ValueError(f"dimensions differ: {a.shape[0]} and {b.shape[0]}")
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 1.0
    return float(1.0 - np.dot(a, b) / (na * nb))


def _sq_dists(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.maximum(d, 0.0)  # rounding can make a distance of a vector to itself -1e-16


def median_bandwidth(baseline: ArrayLike, recent: ArrayLike) -> float:
    """The median heuristic: the median Euclidean distance between distinct points of the
    pooled sample (1.0 when every point coincides, so the kernel stays defined)."""
    z = np.vstack([_matrix(baseline), _matrix(recent)])
    d = _sq_dists(z, z)[np.triu_indices(z.shape[0], k=1)]
    med = float(np.sqrt(np.median(d))) if d.size else 0.0
    return med if med > 0 else 1.0


def mmd_rbf(baseline: ArrayLike, recent: ArrayLike, bandwidth: float | None = None) -> float:
    """The unbiased estimate of the squared maximum mean discrepancy with the RBF kernel
    k(x, y) = exp(-|x - y|^2 / (2 s^2)), s from `median_bandwidth` unless given:

        1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
        - 2/(mn) sum_{i,j} k(x_i, y_j)

    Unbiased, so it can dip slightly below 0 for two samples of one distribution."""
    x, y = _matrix(baseline), _matrix(recent)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError("MMD needs at least two points in each sample")
    s = bandwidth if bandwidth is not None else median_bandwidth(x, y)
    if s <= 0:
        raise ValueError("the bandwidth must be positive")
    gamma = 1.0 / (2.0 * s * s)
    kxx = np.exp(-gamma * _sq_dists(x, x))
    kyy = np.exp(-gamma * _sq_dists(y, y))
    kxy = np.exp(-gamma * _sq_dists(x, y))
    # The diagonal is k(x, x) = 1 for every point: left out of the within-sample sums.
    within_x = (kxx.sum() - m) / (m * (m - 1))
    within_y = (kyy.sum() - n) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def quantile_edges(baseline: Sequence[float] | NDArray[np.float64], bins: int) -> list[float]:
    """Inner bin edges at the baseline's quantiles, so each bin holds about the same share of
    the baseline; repeated edges (many equal scores) are merged."""
    if bins < 2:
        raise ValueError("PSI needs at least two bins")
    values = np.asarray(baseline, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no baseline values to bin")
    qs = np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return [float(q) for q in np.unique(qs)]


def bin_shares(
    values: Sequence[float] | NDArray[np.float64], edges: Sequence[float], epsilon: float
) -> NDArray[np.float64]:
    """The share of `values` in each bin (bin i: edges[i-1] <= v < edges[i], open at both
    ends), smoothed: (share + epsilon) / (1 + bins * epsilon), so no bin is empty and the
    shares still sum to 1."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no values to bin")
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), arr, side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    return (counts / arr.size + epsilon) / (1.0 + counts.size * epsilon)


def psi(
    baseline: Sequence[float] | NDArray[np.float64],
    recent: Sequence[float] | NDArray[np.float64],
    edges: Sequence[float] | None = None,
    bins: int = 10,
    epsilon: float = PSI_EPSILON,
) -> float:
    """The population-stability index sum_i (r_i - b_i) ln(r_i / b_i) over the bins of
    `edges` (default: `bins` baseline quantiles), with the shares smoothed by `epsilon`."""
    cut = list(edges) if edges is not None else quantile_edges(baseline, bins)
    b = bin_shares(baseline, cut, epsilon)
    r = bin_shares(recent, cut, epsilon)
    return float(np.sum((r - b) * np.log(r / b)))


def rate(flags: Sequence[bool]) -> float:
    if not flags:
        raise ValueError("no observations")
    return sum(1 for f in flags if f) / len(flags)


def rate_difference(baseline: Sequence[bool], recent: Sequence[bool]) -> float:
    """The recent share of true flags minus the baseline share (in [-1, 1])."""
    return rate(recent) - rate(baseline)


def mean_difference(baseline: Sequence[float], recent: Sequence[float]) -> float:
    if not baseline or not recent:
        raise ValueError("no observations")
    return float(np.mean(recent) - np.mean(baseline))
