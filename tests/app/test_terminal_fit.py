"""The live view's table narrows to the terminal instead of losing its right-hand columns."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tonle.app.terminal_text import clip, display_width, fit, grid

HEADERS = ["station", "operation", "state", "speed", "andon"]
ROW = [("S07", ""), ("attach sleeve cuffs", ""), ("កំពុងដំណើរការ", ""), ("70%", ""), ("lit 00:03", "")]


def test_a_table_wider_than_the_terminal_clips_its_widest_text_and_keeps_every_column():
    lines = [t.plain for t in grid("line L1", HEADERS, [ROW], max_width=60)]
    assert all(display_width(line) <= 60 for line in lines), lines
    body = lines[4]
    assert body.count("│") == len(HEADERS) + 1 and "lit 00:03" in body  # the last column is whole
    assert "attach sl" in body and "…" in body  # the operation, the widest text, was clipped


def test_a_table_that_fits_is_drawn_as_it_is():
    lines = [t.plain for t in grid("line L1", HEADERS, [ROW], max_width=200)]
    assert "attach sleeve cuffs" in lines[4] and "…" not in "".join(lines)


@given(st.lists(st.integers(1, 40), min_size=1, max_size=10), st.integers(20, 200))
def test_fit_never_widens_and_reaches_the_width_unless_every_column_is_at_its_floor(widths, max_width):
    out = fit(widths, max_width)
    assert all(o <= w for o, w in zip(out, widths, strict=True))
    fits = sum(w + 3 for w in out) + 1 <= max_width
    assert fits or all(o <= 4 or o == w for o, w in zip(out, widths, strict=True) if o == max(out))


@given(st.text(min_size=0, max_size=30), st.integers(2, 30))
def test_clip_keeps_within_the_width(text, width):
    out = clip(text, width)
    assert display_width(out) <= max(width, display_width(text) if display_width(text) <= width else width)
    assert out == text or out.endswith("…")
