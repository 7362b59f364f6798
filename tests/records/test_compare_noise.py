"""compare gates only on performance metrics, in the catalog's direction, and with repeats only beyond noise."""
from __future__ import annotations

import pytest

from runner.base.stats import median, p_greater, quantile, smallest_p, statistic
from runner.records.compare import _flatten, change_of

A = [0.150, 0.162, 0.141, 0.171, 0.155]


def entry(samples, better="higher", kind="performance"):
    return {"value": median(samples), "samples": list(samples), "unit": "GB/s", "better": better, "kind": kind}


def test_exact_mann_whitney_extremes():
    assert p_greater([5, 6, 7, 8, 9], [1, 2, 3, 4, 4.5]) == pytest.approx(1 / 252)
    assert p_greater([4, 5, 6], [1, 2, 3]) == pytest.approx(1 / 20)
    assert p_greater([1, 2, 3], [4, 5, 6]) == 1.0
    assert smallest_p(1, 1) == 0.5 and smallest_p(5, 5) == pytest.approx(1 / 252)


def test_exact_mann_whitney_matches_the_published_table():
    # Mann & Whitney (1947) Table I, n=m=4: P(U <= 1) = 0.029 (2 of the 70 arrangements); U=1 is one pair out of order
    assert p_greater([10, 11, 12, 14], [1, 2, 3, 10.5]) == pytest.approx(2 / 70)


def test_statistics():
    assert statistic([3, 1, 2], "median") == 2 and statistic([3, 1, 2], "min") == 1 and statistic([3, 1, 2], "max") == 3
    assert quantile([1, 2, 3, 4, 5], 0.9) == pytest.approx(4.6) and statistic([1, 2, 3, 4, 5], "p90") == pytest.approx(4.6)


def test_same_settings_noise_is_not_a_regression():
    b = [0.139, 0.146, 0.166, 0.145, 0.158]  # median 6% lower, ranges overlap
    change = change_of("initiator.throughput_gbps", entry(A), entry(b), 5.0)
    assert change.change_pct < -5 and change.verdict == "within noise" and not change.regression
    assert change.p_value > 0.01


def test_a_real_drop_with_repeats_is_a_regression():
    b = [x / 10 for x in A]
    change = change_of("initiator.throughput_gbps", entry(A), entry(b), 5.0)
    assert change.verdict == "regression" and change.p_value == pytest.approx(1 / 252)


def test_a_drop_within_tolerance_is_not_judged_on_noise():
    b = [x * 0.97 for x in A]
    assert change_of("m", entry(A), entry(b), 5.0).verdict == "within tolerance"


def test_without_repeats_a_change_is_inconclusive_and_says_how_many_repeats_decide():
    change = change_of("m", entry([1.0]), entry([0.5]), 5.0)
    assert change.verdict == "inconclusive" and not change.regression and change.p_value is None
    assert "1 vs 1 samples" in change.note and "--repeat 5 on both runs" in change.note
    assert "--repeat 3" in change_of("m", entry([1.0]), entry([0.5]), 5.0, alpha=0.05).note


def test_the_issue_24_pair_is_inconclusive_not_a_regression():
    """Two runs of identical settings with --repeat 3: -7.7%, ranges 0.31..0.39 against 0.29..0.39."""
    a, b = [0.31, 0.39, 0.36], [0.29, 0.39, 0.332]
    change = change_of("initiator.throughput_gbps", entry(a), entry(b), 5.0)
    assert change.change_pct == pytest.approx(-7.7, abs=0.1)
    assert change.verdict == "inconclusive" and not change.regression
    assert "3 vs 3 samples" in change.note and "not apart beyond their spread" in change.note


def test_three_against_three_apart_beyond_the_spread_is_a_regression():
    b = [x / 10 for x in A[:3]]  # a 4 KiB block against the default: 0.015 against 0.15 GB/s
    change = change_of("m", entry(A[:3]), entry(b), 5.0, alpha=0.01)
    assert change.verdict == "regression" and change.p_value is None and "apart beyond the spread" in change.note
    assert change_of("m", entry(A[:3]), entry(b), 5.0, alpha=0.05).p_value == pytest.approx(1 / 20)
    assert change_of("m", entry(b), entry(A[:3]), 5.0).verdict == "improvement"


def test_separated_runs_within_a_spread_of_each_other_are_inconclusive():
    """No overlap, but the gap (0.02) is smaller than a run's spread (0.05): load drift can do that, it is not proven."""
    change = change_of("m", entry([0.40, 0.45, 0.42]), entry([0.33, 0.38, 0.35]), 5.0)
    assert change.verdict == "inconclusive"
    assert change_of("m", entry([0.40, 0.41, 0.42]), entry([0.33, 0.34, 0.35]), 5.0).verdict == "regression"  # gap 0.05 > 0.02


def test_the_fixed_tolerance_never_fires_without_the_noise_model():
    import random

    rng = random.Random(24)
    for _ in range(2000):
        a = [rng.gauss(0.35, 0.03) for _ in range(3)]
        b = [rng.gauss(0.35, 0.03) for _ in range(3)]
        change = change_of("m", entry(a), entry(b), 5.0)
        assert change.verdict != "regression" or min(a) - max(b) > max(max(a) - min(a), max(b) - min(b)), change


def test_only_performance_metrics_gate():
    batch_a = {"value": 1677, "unit": "count", "better": "", "kind": "correctness"}
    batch_b = {"value": 1090, "unit": "count", "better": "", "kind": "correctness"}
    assert change_of("initiator.batch_count", batch_a, batch_b, 5.0).verdict == "not judged"


def test_old_records_take_direction_and_kind_from_the_catalog():
    document = {"workloads": {
        "initiator": {"parser": "mooncake-bench", "metrics": {
            "batch_count": {"value": 1677, "unit": "count", "better": "higher"},
            "throughput_gbps": {"value": 0.59, "unit": "GB/s", "better": "higher"}}},
        "target": {"parser": "mooncake-bench", "metrics": {"rpc_address": {"value": "127.0.0.1:15123", "unit": ""}}},
    }}
    flat = _flatten(document)
    assert flat["initiator.batch_count"]["better"] == "" and flat["initiator.batch_count"]["kind"] == "correctness"
    assert flat["initiator.throughput_gbps"]["kind"] == "performance"
    assert flat["target.rpc_address"]["kind"] == "info"


# --- conditions: a local run measures its own host, so a difference in that host's load is said -------------------


def past_run(tmp_path, name, executor="local", load=(0.2, 0.3), cpus=2):
    import json

    from runner.records.history import PastRun

    path = tmp_path / name
    path.mkdir()
    host = {"cpus": cpus, "load_1m_start": load[0], "load_1m_end": load[1]} if load else {}
    (path / "run.json").write_text(json.dumps({"executor": executor, "facts": {"runner_host": host}}))
    return PastRun("s", name, path, "PASS", "")


def test_a_busier_host_is_named_as_a_condition_that_differs(tmp_path):
    from runner.records.compare import conditions_diff

    quiet, busy = past_run(tmp_path, "a"), past_run(tmp_path, "b", load=(3.0, 4.2))
    (line,) = conditions_diff(quiet, busy)
    assert "A 0.12, B 1.80 per CPU" in line and "busier during B" in line


@pytest.mark.parametrize("b_kwargs", [{"load": (0.9, 1.1)}, {"load": None}, {"executor": "kubernetes", "load": (9.0, 9.0)}])
def test_similar_loads_or_no_local_host_say_nothing(tmp_path, b_kwargs):
    from runner.records.compare import conditions_diff

    assert conditions_diff(past_run(tmp_path, "a"), past_run(tmp_path, "b", **b_kwargs)) == []


def test_a_gain_within_noise_is_not_an_improvement():
    b = [0.170, 0.150, 0.182, 0.149, 0.176]  # median 7% higher, ranges overlap
    change = change_of("initiator.throughput_gbps", entry(A), entry(b), 5.0)
    assert change.change_pct > 5 and change.verdict == "within noise" and change.p_value > 0.01
    assert change_of("initiator.throughput_gbps", entry(A), entry([x * 10 for x in A]), 5.0).verdict == "improvement"
