"""The completeness arithmetic, on hand-worked windows."""

from __future__ import annotations

import numpy as np

from collector.completeness import missing_per_window


def test_a_complete_stream_misses_nothing_across_window_edges():
    # seq 0..9 | 10..19 | 20..29
    expected, missing = missing_per_window([10, 10, 10], [0, 10, 20], [9, 19, 29])
    assert expected.tolist() == [10, 10, 10]
    assert missing.tolist() == [0, 0, 0]


def test_a_gap_at_a_window_edge_is_charged_to_the_window_where_data_resumes():
    # window 1 ends at 9, window 2 starts at 15: 10..14 were lost; one more inside window 2 (seq 17).
    expected, missing = missing_per_window([10, 4], [0, 15], [9, 19])
    assert expected.tolist() == [10, 10]
    assert missing.tolist() == [0, 6]


def test_a_sender_that_starts_counting_again_is_not_charged_for_the_jump_back():
    # The gateway's spool was replaced: numbers restart at 0 in window 3.
    expected, missing = missing_per_window([5, 5, 3], [0, 5, 0], [4, 9, 2])
    assert expected.tolist() == [5, 5, 3]
    assert missing.tolist() == [0, 0, 0]


def test_silent_windows_are_not_windows_at_all_so_a_switched_off_machine_loses_nothing():
    # Only windows with data come back from the database (fill(none)): off from 10:05 to 11:00.
    _, missing = missing_per_window(np.array([300, 300]), np.array([0, 300]), np.array([299, 599]))
    assert missing.sum() == 0
