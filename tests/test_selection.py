import pytest

from phronesis.curation.selection import select_by_decaying_threshold


def test_threshold_trace_matches_hand_computation():
    rows = [{"id": i, "s": s} for i, s in enumerate([0.95, 0.80, 0.80, 0.50, 0.70, 0.60])]
    result = select_by_decaying_threshold(rows, lambda r: r["s"], initial=0.9, minimum=0.6, decay=0.9)
    # 0.9 -> 0.81 -> 0.729 -> 0.6561 -> max(0.6, 0.59049)=0.6 -> 0.6
    assert result.thresholds == pytest.approx([0.9, 0.81, 0.729, 0.6561, 0.6, 0.6])
    assert [r["id"] for r in result.kept] == [0, 2, 4, 5]  # 0.80 < 0.81 dropped, later 0.80 >= 0.729 kept
    assert result.kept_fraction == pytest.approx(4 / 6)


def test_no_decay_is_a_fixed_threshold_and_bad_arguments_are_refused():
    rows = [{"s": s} for s in (0.4, 0.5, 0.6)]
    result = select_by_decaying_threshold(rows, lambda r: r["s"], initial=0.5, minimum=0.1, decay=1.0)
    assert result.thresholds == [0.5, 0.5, 0.5] and [r["s"] for r in result.kept] == [0.5, 0.6]
    with pytest.raises(ValueError):
        select_by_decaying_threshold(rows, lambda r: r["s"], initial=0.5, minimum=0.1, decay=0)
    with pytest.raises(ValueError):
        select_by_decaying_threshold(rows, lambda r: r["s"], initial=0.5, minimum=0.9, decay=0.5)
