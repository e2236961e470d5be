"""The live view's words, the analytics' alert texts and the gateway's ack details, in both languages.

An alert or an ack is worded when it is decided, in the language of the process that
decides it (the plant's `[plant] language`, `--lang`, or the environment), and is stored
and sent as worded; English reads exactly as it did before the catalogue.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from analytics.rules import PdmView, RuleEngine
from edge_agent.commands import CommandGate, DeviceLimits
from tonle.app.demo_view import summary_lines
from tonle.app.terminal_text import display_width, fold, grid
from tonle.config import RulesConfig
from tonle.contract import MACHINE_STATES, Command
from tonle.messages import LOCALE_DIR, using_language

ROOT = Path(__file__).resolve().parents[2]
FILES = (
    "tonle/app/demo_view.py",
    "tonle/app/live_commands.py",
    "analytics/rules.py",
    "analytics/alert_words.py",
    "edge_agent/commands.py",
    "edge_agent/sources/serial.py",
    "edge_agent/sources/modbus.py",
)
RUNNING = MACHINE_STATES.index("running")
NOW = 1_780_000_000_000_000_000


def _fields(text: str) -> list[str]:
    return sorted(
        f"{name}!{conv}" for _lit, name, _spec, conv in string.Formatter().parse(text) if name is not None
    )


@pytest.mark.parametrize("path", FILES)
def test_every_sentence_here_has_a_khmer_entry_with_the_same_fields(path: str) -> None:
    with (LOCALE_DIR / "km" / "LC_MESSAGES" / "tonle.po").open("rb") as f:
        km = {m.id: m.string for m in read_po(f) if m.id}
    found = [
        msg for _n, msg, _c, _x in extract_from_file("python", ROOT / path, keywords={"_": None, "N_": None})
    ]
    assert len(found) >= 2  # the extraction found the file's sentences
    for msgid in found:
        assert km.get(msgid), f"{path}: no Khmer for {msgid!r}"
        assert _fields(km[msgid]) == _fields(msgid), msgid


def _derate(language: str) -> str:
    engine = RuleEngine(RulesConfig(), rul_horizon_h=8.0)
    view = PdmView(np.array([3.0]), np.array([2.0]), np.array([5.0]), ["outer_race"])
    with using_language(language):
        (act,) = engine.evaluate(["S07"], np.array([0.9]), np.array([RUNNING]), view)
    return act.message


def test_a_derate_alert_reads_in_english_and_in_khmer_for_a_khmer_plant() -> None:
    speed = f"{RulesConfig().derate_to:.0%}"
    assert _derate("en") == (
        "S07: the bearing may fail within 2 h (planning horizon 8 h); health 0.900, 2 to 5 h of running left "
        "(80% sure; most likely 3 h); the vibration points to the bearing's outer race; speed reduced to "
        f"{speed} to slow the wear: order the bearing and replace it within 2 h"
    )
    km = _derate("km")
    assert km.startswith("S07៖ រ៉ូឡឺម៉ង់អាចខូច ក្នុងរយៈពេល 2 ម៉ោង (រយៈពេលគ្រោងទុក 8 ម៉ោង)")  # the name as written
    assert "រង្វង់ខាងក្រៅនៃរ៉ូឡឺម៉ង់" in km and f"បានបន្ថយល្បឿនមក {speed}" in km  # Arabic digits
    assert not any("a" <= ch <= "z" for ch in km)  # no English word left (S07 is upper case)


def test_a_refused_command_ack_is_worded_in_the_gateway_language() -> None:
    limits = DeviceLimits(allowed=frozenset({"set_speed"}), ranges={"set_speed": (0.5, 1.0)})
    cmd = Command(v=1, id="c1", ts=NOW, expires=NOW + 10**9, action="set_speed", reason="t", value=0.2)
    with using_language("en"):
        en = CommandGate({"S01": limits}).check("S01", cmd, NOW)
    with using_language("km"):
        km = CommandGate({"S01": limits}).check("S01", cmd, NOW)
    assert en.detail == "set_speed value 0.2 is outside the allowed range 0.5..1"
    assert km.detail == "តម្លៃ 0.2 របស់ set_speed នៅក្រៅចន្លោះដែលអនុញ្ញាត 0.5..1"
    assert (km.status, km.code) == (en.status, en.code) == ("rejected", "out_of_range")  # keys stay English


def test_the_summary_for_a_person_is_in_khmer_and_the_json_keys_stay_english() -> None:
    summary = {"samples_published": 10, "points_stored": 10, "lost": 0, "alerts": 1}
    summary |= {"commands_sent": 1, "commands_acked": 1, "oee": {"L1": 0.7428}}
    with using_language("km"):
        lines = summary_lines(summary)
    assert lines == [
        "បានផ្ញើទិន្នន័យ 10, បានរក្សាទុក 10, បាត់បង់ 0",
        "ការជូនដំណឹងថែទាំ៖ 1; ពាក្យបញ្ជាបានផ្ញើ៖ 1, ច្រកចេញចូលបានអនុវត្ត៖ 1",
        "ខ្សែ L1៖ OEE 74%",
    ]


def test_a_khmer_spacing_vowel_takes_a_column_and_a_subscript_mark_none() -> None:
    assert display_width("ស្ថានីយ") == 5  # ស ថ(sub: 0) ា(1) ន ី(0) យ
    assert display_width("S07") == 3 and display_width("日本") == 4
    assert all(display_width(line) <= 20 for line in fold("ច្រកចេញចូល៖ បានភ្ជាប់ អានទិន្នន័យ 21539 ដង", 20))


def test_the_drawn_table_puts_every_column_line_at_the_same_display_column() -> None:
    rows = [[("S01", ""), ("កំពុងដំណើរការ", "green")], [("S05", ""), ("ដាច់អំបោះ", "yellow")]]
    lines = [t.plain for t in grid("ការបង្ហាញ", ["ស្ថានីយ", "ស្ថានភាព"], rows)[1:]]
    cols = {
        tuple(display_width(line[:i]) for i, ch in enumerate(line) if ch in "│┃┏┳┓┡╇┩└┴┘") for line in lines
    }
    assert len(cols) == 1, lines
