"""Intervals and tests checked against hand-computed values and synthetic truth."""
import math

import numpy as np
import pytest

from phronesis.core import stats


def test_bootstrap_ci_covers_true_mean_most_of_the_time():
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(200):
        sample = rng.normal(loc=0.3, scale=1.0, size=40)
        ci = stats.bootstrap_ci(sample, n_boot=1000, seed=trial)
        covered += ci["lo"] <= 0.3 <= ci["hi"]
    assert 0.88 <= covered / 200 <= 0.99  # nominal 95%, percentile bootstrap slightly under-covers


def test_bootstrap_ci_of_a_rate_is_inside_unit_interval_and_seeded():
    flags = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    a = stats.bootstrap_ci(flags, seed=3)
    b = stats.bootstrap_ci(flags, seed=3)
    assert a == b
    assert a["mean"] == pytest.approx(0.7)
    assert 0.0 <= a["lo"] < 0.7 < a["hi"] <= 1.0


def test_bootstrap_ci_width_shrinks_with_more_data():
    rng = np.random.default_rng(0)
    small = stats.bootstrap_ci(rng.normal(size=20), seed=0)
    large = stats.bootstrap_ci(rng.normal(size=2000), seed=0)
    assert (large["hi"] - large["lo"]) < (small["hi"] - small["lo"]) / 4


def test_jackknife_acceleration_by_hand():
    # x = 0, 0, 3: leave-one-out means 1.5, 1.5, 0; their mean 1; d = -0.5, -0.5, 1
    # a = sum(d^3) / (6 * sum(d^2)^1.5) = 0.75 / (6 * 1.5^1.5)
    assert stats.jackknife_acceleration(np.array([0.0, 0.0, 3.0])) == pytest.approx(0.75 / (6 * 1.5 ** 1.5))
    assert stats.jackknife_acceleration(np.array([1.0, 2.0, 3.0])) == pytest.approx(0.0)  # symmetric


def _percentile_interval(x, seed):
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(stats.N_BOOT, x.size))].mean(axis=1)
    return np.percentile(means, [2.5, 97.5])


def test_bca_shifts_the_interval_towards_the_long_tail_of_skewed_data():
    x = np.random.default_rng(4).exponential(size=25)
    ci = stats.bootstrap_ci(x, seed=0)
    lo, hi = _percentile_interval(x, seed=0)  # the same resamples, plain percentiles
    assert ci["method"] == "bca"
    assert ci["lo"] > lo and ci["hi"] > hi


def test_bca_covers_a_skewed_mean_better_than_the_percentile_interval():
    rng = np.random.default_rng(2)
    bca = percentile = 0
    for trial in range(300):
        x = rng.lognormal(size=15)  # true mean e^0.5
        ci = stats.bootstrap_ci(x, n_boot=1000, seed=trial)
        bca += ci["lo"] <= math.exp(0.5) <= ci["hi"]
        lo, hi = _percentile_interval(x, seed=trial)
        percentile += lo <= math.exp(0.5) <= hi
    assert bca > percentile


def test_empty_and_constant_inputs():
    assert math.isnan(stats.bootstrap_ci([])["mean"])
    ci = stats.bootstrap_ci([2.0, 2.0, 2.0])
    assert ci["lo"] == ci["hi"] == ci["mean"] == 2.0


def test_paired_bootstrap_covers_true_difference():
    rng = np.random.default_rng(7)
    covered = 0
    for trial in range(100):
        item = rng.normal(scale=3.0, size=30)  # large per-item difficulty shared by both models
        a = item + 0.5 + rng.normal(scale=0.5, size=30)
        b = item + rng.normal(scale=0.5, size=30)
        ci = stats.paired_bootstrap_ci(a, b, n_boot=1000, seed=trial)
        covered += ci["lo"] <= 0.5 <= ci["hi"]
    assert covered >= 85


def test_permutation_exact_hand_computed():
    # d = [1, 2, 3]: the 8 sign patterns give |sum| = 6,4,2,0,0,2,4,6; the observed 6 is matched twice.
    assert stats.paired_permutation_p([1, 2, 3], [0, 0, 0]) == pytest.approx(2 / 8)
    # d = [1, -1]: |mean| is 0 observed, and every pattern is >= 0.
    assert stats.paired_permutation_p([1, 0], [0, 1]) == pytest.approx(1.0)
    # d = [2, 2, 2, 2]: only all-plus and all-minus reach |mean| = 2: 2/16.
    assert stats.paired_permutation_p([3, 3, 3, 3], [1, 1, 1, 1]) == pytest.approx(2 / 16)


def test_permutation_monte_carlo_detects_a_real_shift_and_not_noise():
    rng = np.random.default_rng(2)
    a = rng.normal(size=60)
    assert stats.paired_permutation_p(a + 1.0, a, seed=0) < 0.001
    noise_p = stats.paired_permutation_p(rng.normal(size=60), rng.normal(size=60), seed=0)
    assert noise_p > 0.01


def test_mcnemar_hand_computed():
    # 5 discordant pairs all favouring a: p = 2 * (1/2)^5 = 0.0625.
    a = [1, 1, 1, 1, 1, 0, 1]
    b = [0, 0, 0, 0, 0, 0, 1]
    assert stats.mcnemar_exact_p(a, b) == pytest.approx(0.0625)
    # 6 vs 2 discordant: p = 2 * (C(8,0)+C(8,1)+C(8,2)) / 256 = 2 * 37 / 256.
    a = [1] * 6 + [0] * 2 + [1] * 3
    b = [0] * 6 + [1] * 2 + [1] * 3
    assert stats.mcnemar_exact_p(a, b) == pytest.approx(74 / 256)
    assert stats.mcnemar_exact_p([1, 0], [1, 0]) == 1.0  # no discordant pairs


def test_compare_paired_picks_the_test_by_kind():
    binary = stats.compare_paired([1, 1, 0, 1], [0, 0, 0, 1], binary=True)
    assert binary["test"] == "mcnemar-exact" and binary["diff"] == pytest.approx(0.5)
    assert binary["p"] == pytest.approx(0.5)  # 2 discordant, both one way: 2 * 1/4
    cont = stats.compare_paired([1, 2, 3], [0, 0, 0], binary=False)
    assert cont["test"] == "paired-permutation" and cont["p"] == pytest.approx(0.25)


def ensemble(rows):
    flat = rows.reshape(rows.shape[0], -1)
    return flat.mean(axis=1) - 0.5 * flat.std(axis=1)


def test_bootstrap_statistic_point_value_and_paired_difference():
    rows = np.array([[1.0, 3.0], [2.0, 2.0]])  # pooled 1,3,2,2: mean 2, std sqrt(0.5)
    out = stats.bootstrap_statistic(rows, ensemble, seed=0)
    assert out["mean"] == pytest.approx(2 - 0.5 * math.sqrt(0.5))
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 6))
    better = base + 1.0
    diff = stats.paired_bootstrap_statistic(better, base, ensemble, n_perm=2000, seed=0)
    assert diff["diff"] == pytest.approx(1.0)  # a shift moves the mean, not the std
    assert diff["lo"] <= 1.0 <= diff["hi"] and diff["p"] < 0.01
    same = stats.paired_bootstrap_statistic(base, base.copy(), ensemble, n_perm=500, seed=0)
    assert same["diff"] == 0.0 and same["p"] == pytest.approx(1.0)


def test_wilson_interval_matches_hand_computed_values():
    # 0/6: centre = (0 + z²/12) / (1 + z²/6), half-width the same, z = 1.959964
    z2 = 1.959964 ** 2
    hi = 2 * (z2 / 12) / (1 + z2 / 6)
    ci = stats.wilson_ci([0] * 6)
    assert ci["lo"] == 0.0 and ci["hi"] == pytest.approx(hi, abs=1e-6) and ci["hi"] == pytest.approx(0.3903, abs=1e-4)
    five_of_ten = stats.wilson_ci([1] * 5 + [0] * 5)
    assert (five_of_ten["lo"], five_of_ten["hi"]) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert stats.wilson_ci([1] * 20)["lo"] == pytest.approx(0.8389, abs=1e-4)


def test_rates_in_reports_get_wilson_intervals_not_zero_width_ones():
    from phronesis.evaluation.summary import summarise_metric

    out = summarise_metric({"base": [0] * 6, "aligned": [1, 0, 0, 0, 0, 0]}, "base", True, "r", True)
    assert out["per_model"]["base"]["hi"] > 0.3
    assert out["per_model"]["base"]["method"] == "wilson"


def test_holm_adjustment_by_hand():
    # sorted 0.01, 0.02, 0.04 with m=3: 3*0.01=0.03, max(0.03, 2*0.02)=0.04, max(0.04, 1*0.04)=0.04
    assert stats.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    adjusted = stats.holm([0.01, float("nan")])
    assert adjusted[0] == pytest.approx(0.01) and math.isnan(adjusted[1])
