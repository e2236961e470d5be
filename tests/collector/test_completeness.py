"""The completeness arithmetic, on hand-worked streams."""

from __future__ import annotations

from collector.completeness import missing_in_range


def test_complete_streams_miss_nothing_whatever_order_their_numbers_arrived_in():
    # Two streams: 0..99 complete; 500..509 complete (sent after a restart of the collector).
    expected, missing = missing_in_range([100, 10], [0, 500], [99, 509])
    assert expected.tolist() == [100, 10]
    assert missing.tolist() == [0, 0]


def test_numbers_that_never_arrived_are_counted_once():
    # 0..99 expected, 93 stored: 7 lost.
    expected, missing = missing_in_range([93], [0], [99])
    assert expected.tolist() == [100]
    assert missing.tolist() == [7]


def test_a_stream_with_one_number_is_complete():
    expected, missing = missing_in_range([1], [42], [42])
    assert (expected.tolist(), missing.tolist()) == ([1], [0])
