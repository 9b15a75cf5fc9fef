"""The drift statistics against values worked out by hand, their edge cases, and that each one
separates a shifted sample from a second sample of the same distribution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lockgate.drift import stats


def test_centroid_cosine_distance_by_hand() -> None:
    # cos((1,0), (1,1)) = 1/sqrt(2)
    assert stats.centroid_cosine_distance([[1, 0]], [[1, 1]]) == pytest.approx(1 - 1 / math.sqrt(2))
    # Means (1,0) and (0.5,1): cos = 0.5 / sqrt(1.25)
    assert stats.centroid_cosine_distance([[1, 0], [1, 0]], [[0, 1], [1, 1]]) == pytest.approx(
        1 - 0.5 / math.sqrt(1.25)
    )
    assert stats.centroid_cosine_distance([[1, 0]], [[0, 3]]) == pytest.approx(1.0)
    assert stats.centroid_cosine_distance([[1, 0]], [[-2, 0]]) == pytest.approx(2.0)
    assert stats.centroid_cosine_distance([[2, 2], [1, 1]], [[5, 5]]) == pytest.approx(0.0)


def test_centroid_of_cancelling_vectors_has_no_direction() -> None:
    assert stats.centroid_cosine_distance([[1, 0], [-1, 0]], [[1, 0]]) == 1.0


def test_centroid_rejects_mismatched_or_empty_samples() -> None:
    with pytest.raises(ValueError, match="dimensions differ"):
        stats.centroid_cosine_distance([[1, 0]], [[1, 0, 0]])
    with pytest.raises(ValueError, match="non-empty"):
        stats.centroid_cosine_distance(np.zeros((0, 3)), [[1, 0, 0]])


def test_median_bandwidth_by_hand() -> None:
    # Pooled 0, 0, 1, 1: pair distances 0, 1, 1, 1, 1, 0 -> median 1.
    assert stats.median_bandwidth([0, 0], [1, 1]) == pytest.approx(1.0)
    # Pooled 0, 3, 4 (2-D points on a line): distances 3, 4, 1 -> median 3.
    assert stats.median_bandwidth([[0, 0], [3, 0]], [[4, 0]]) == pytest.approx(3.0)
    # All points equal: no spread to measure, the kernel falls back to 1.
    assert stats.median_bandwidth([[1, 1], [1, 1]], [[1, 1], [1, 1]]) == 1.0


def test_mmd_unbiased_rbf_by_hand() -> None:
    e = math.exp(-0.5)  # k(0, 1) with s = 1
    # x = y = {0, 1}: within terms e each, cross mean (2 + 2e) / 4 -> e - 1 (< 0: unbiased).
    assert stats.mmd_rbf([0, 1], [0, 1], bandwidth=1.0) == pytest.approx(e - 1)
    # x = {0, 0}, y = {1, 1}: within terms 1 each, every cross term e -> 2 - 2e.
    assert stats.mmd_rbf([0, 0], [1, 1], bandwidth=1.0) == pytest.approx(2 - 2 * e)
    # The median heuristic finds s = 1 for that sample itself.
    assert stats.mmd_rbf([0, 0], [1, 1]) == pytest.approx(2 - 2 * e)
    # s = 2: k(0, 1) = exp(-1/8).
    assert stats.mmd_rbf([0, 0], [1, 1], bandwidth=2.0) == pytest.approx(2 - 2 * math.exp(-1 / 8))


def test_mmd_needs_two_points_and_a_positive_bandwidth() -> None:
    with pytest.raises(ValueError, match="two points"):
        stats.mmd_rbf([[0.0]], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="positive"):
        stats.mmd_rbf([0, 1], [0, 1], bandwidth=0.0)


def test_quantile_edges() -> None:
    assert stats.quantile_edges(np.arange(1, 11), 2) == [5.5]
    # Quantiles 1, 1, 1, 1.2 of [1, 1, 1, 1, 2]: the repeated edges merge.
    assert stats.quantile_edges([1, 1, 1, 1, 2], 5) == pytest.approx([1.0, 1.2])
    with pytest.raises(ValueError, match="two bins"):
        stats.quantile_edges([1, 2], 1)


def test_bin_shares_put_an_edge_value_in_the_upper_bin_and_smooth() -> None:
    assert stats.bin_shares([0.1, 0.25, 0.3, 0.5], [0.25], 0.0).tolist() == [0.25, 0.75]
    smoothed = stats.bin_shares([0.1, 0.2], [0.25], 0.1)
    assert smoothed.tolist() == pytest.approx([1.1 / 1.2, 0.1 / 1.2])
    assert smoothed.sum() == pytest.approx(1.0)


def test_psi_by_hand() -> None:
    base, recent = [0.1, 0.2, 0.3, 0.4], [0.1, 0.3, 0.35, 0.4]
    # Shares 0.5/0.5 against 0.25/0.75.
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert expected == pytest.approx(0.274653, abs=1e-6)
    assert stats.psi(base, recent, edges=[0.25], epsilon=0.0) == pytest.approx(expected)
    assert stats.psi(base, recent, edges=[0.25]) == pytest.approx(expected, abs=1e-3)
    # Default edges: the baseline's median, 0.25, so the same bins.
    assert stats.psi(base, recent, bins=2, epsilon=0.0) == pytest.approx(expected)
    assert stats.psi(base, base, edges=[0.25]) == pytest.approx(0.0)


def test_psi_with_an_empty_bin_stays_finite() -> None:
    e = 1e-4
    # Every baseline value below the edge, every recent one above: both shares smoothed.
    value = stats.psi([0.1, 0.2], [0.6, 0.7], edges=[0.5], epsilon=e)
    assert value == pytest.approx(2 / (1 + 2 * e) * math.log((1 + e) / e))
    assert math.isfinite(value)


def test_rate_and_mean_differences() -> None:
    assert stats.rate([True, False, False, False]) == 0.25
    assert stats.rate_difference([True, False, False, False], [True, True, False, False]) == 0.25
    assert stats.rate_difference([True, True], [False, False]) == -1.0
    assert stats.mean_difference([4, 5], [2, 3]) == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="no observations"):
        stats.rate([])
    with pytest.raises(ValueError, match="no observations"):
        stats.mean_difference([], [1.0])


def test_each_statistic_separates_a_shift_from_resampling() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(0.0, 1.0, size=(200, 8)) + 3.0
    same = rng.normal(0.0, 1.0, size=(200, 8)) + 3.0
    shifted = rng.normal(0.0, 1.0, size=(200, 8)) + np.array([3.0] * 4 + [-3.0] * 4)
    assert stats.centroid_cosine_distance(base, same) < 0.01
    assert stats.centroid_cosine_distance(base, shifted) > 0.5
    assert abs(stats.mmd_rbf(base, same)) < 0.02
    assert stats.mmd_rbf(base, shifted) > 0.3
    scores = rng.normal(0.6, 0.1, size=300)
    assert stats.psi(scores, rng.normal(0.6, 0.1, size=300), bins=10) < 0.1
    assert stats.psi(scores, rng.normal(0.3, 0.1, size=300), bins=10) > 1.0
