"""The live view's command board: speed and andon from what the gateway applied, and its latest answers."""

from __future__ import annotations

from tonle.app.live_commands import Answer, CommandBoard
from tonle.messages import using_language

NS = 1_000_000_000
T0 = 1_780_000_000 * NS


def _a(
    s: int, machine: str, action: str, value: float | None, status: str = "applied", detail: str = ""
) -> Answer:
    return Answer(T0 + s * NS, machine, action, value, status, detail)


def test_a_derate_shows_only_once_the_gateway_applied_it():
    board = CommandBoard("demo", T0)
    board.update(
        [_a(5, "S07", "set_speed", 0.7, "rejected", "outside 0.8..1"), _a(1, "S03", "set_speed", 0.9)]
    )
    assert board.speed == {"S03": 0.9}  # the refused derate leaves S07 at full speed
    board.update(
        [_a(9, "S07", "set_speed", 0.7), _a(5, "S07", "set_speed", 0.7, "rejected", "outside 0.8..1")]
    )
    assert board.speed == {"S07": 0.7}  # everything is folded again from the rows read


def test_an_andon_is_lit_from_its_applied_command_until_cleared():
    board = CommandBoard("demo", T0)
    board.update([_a(3, "S05", "andon", 1.0), _a(8, "S05", "andon", 1.0)])
    assert board.andon_ns == {"S05": T0 + 3 * NS}  # lit since the first
    board.update([_a(3, "S05", "andon", 1.0), _a(20, "S05", "clear_andon", None)])
    assert board.andon_ns == {}


def test_the_latest_answers_are_sentences_in_the_views_language():
    board = CommandBoard("demo", T0)
    board.update(
        [_a(s, "S07", "set_speed", 0.7) for s in range(5)] + [_a(9, "S07", "andon", 5.0, "rejected", "0..1")]
    )
    assert len(board.latest) == 3 and board.latest[-1].status == "rejected"
    with using_language("en"):
        text = board.latest[-1].sentence("rejected")
    assert text.endswith("S07 andon 5: rejected (0..1)")
    assert board.latest[0].sentence("applied").endswith("S07 set_speed 70%: applied")
    with using_language("km"):
        assert board.latest[0].sentence("បានអនុវត្ត").endswith("S07 set_speed 70%៖ បានអនុវត្ត")
