"""The look-alike skeleton: published confusable pairs collide, different names (Khmer too) do not."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tonle.contract.topics import TopicError, check_name
from tonle.security.names import Confusable, LookAlikes, code_points, confusable_with, skeleton

# Pairs from Unicode's confusables.txt and UTS #39's examples: each reads as the other.
PUBLISHED_PAIRS = [
    ("\u0455m01", "sm01"),  # CYRILLIC SMALL LETTER DZE ; s
    ("\u0440ress", "press"),  # CYRILLIC SMALL LETTER ER ; p
    ("\u03bf\u03bd", "ov"),  # GREEK OMICRON, NU ; o v
    ("\u0430pple", "apple"),  # CYRILLIC SMALL LETTER A ; a
    ("rn01", "m01"),  # r n ; m (the classic)
    ("L1", "Ll"),  # DIGIT ONE ; l
    ("S0", "SO"),  # DIGIT ZERO ; O
    ("\u13a0EV", "DEV"),  # CHEROKEE A ; D
    ("\u217cine", "line"),  # SMALL ROMAN NUMERAL FIFTY ; l (through NFKC)
]
# What a spoofer types to make `sm01` again.
SPOOFS_OF_SM01 = {
    "cyrillic dze": "\u0455m01",
    "full width": "\uff53\uff4d\uff10\uff11",
    "combining acute on the 1": "sm01\u0301",
    "combining dot above on the 0": "sm0\u03071",
    "zero width space": "s\u200bm01",
    "mathematical bold": "\U0001d42c\U0001d426\U0001d7ce\U0001d7cf",
    "soft hyphen": "sm\u00ad01",
}
# Different names that must stay different.
DIFFERENT = [
    ("sm01", "sm02"),
    ("ម៉ាស៊ីន១", "ម៉ាស៊ីន២"),  # Khmer "machine 1" and "machine 2"
    ("ម៉ាស៊ីន១", "មាស៊ីន១"),  # a Khmer mark (MUUSIKATOAN) is part of the word, not an accent
    ("ម៉ាស៊ីន១", "ម៉ាស៊ិន១"),  # Khmer vowel signs II and I
    ("ដំណើរ", "ដណើរ"),  # NIKAHIT: a Khmer sign that Unicode maps to a generic ring, kept apart
    ("Café", "Cafe"),  # a letter French writes is a letter, not noise
    ("Hàng 1", "Hạng 1"),  # Vietnamese tones tell words apart
    ("ఢ", "డ"),  # Telugu DDHA and DDA
    ("縫製機1", "縫製機2"),
]


@pytest.mark.parametrize(("spoof", "real"), PUBLISHED_PAIRS)
def test_published_confusable_pairs_have_one_skeleton(spoof: str, real: str):
    assert skeleton(spoof) == skeleton(real)


@pytest.mark.parametrize("how", sorted(SPOOFS_OF_SM01))
def test_each_way_to_spoof_sm01_collides_with_it(how: str):
    spoof = SPOOFS_OF_SM01[how]
    assert spoof != "sm01"
    with pytest.raises(Confusable) as refused:
        confusable_with("machine", spoof, ["sm02", "sm01"])
    assert (refused.value.name, refused.value.existing, refused.value.level) == (spoof, "sm01", "machine")


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_names_that_read_differently_do_not_collide(a: str, b: str):
    assert skeleton(a) != skeleton(b)
    confusable_with("machine", a, [b])  # no Confusable


def test_khmer_names_are_names_the_topic_rules_accept():
    for name in ("ម៉ាស៊ីន១", "ខ្សែ១", "រោងចក្រ"):
        assert check_name("machine", name) == name


def test_the_zero_width_spoof_is_refused_by_the_topic_rules_before_any_skeleton():
    with pytest.raises(TopicError, match="U\\+200B"):
        check_name("machine", SPOOFS_OF_SM01["zero width space"])


def test_the_refusal_names_both_names_their_code_points_and_the_fix():
    text = str(Confusable("machine", "\u0455m01", "sm01", "site/area/line 'p/sewing/L1'"))
    assert text == (
        "machine 'ѕm01' (U+0455 U+006D U+0030 U+0031) looks like the existing machine 'sm01' "
        "(U+0073 U+006D U+0030 U+0031) under site/area/line 'p/sewing/L1'; "
        "use 'sm01' itself if it is the same machine, or a name that reads differently"
    )
    assert Confusable("line", "L1", "Ll").category == "look-alike line name"
    assert code_points("ម") == "U+1798"


def test_the_same_name_is_never_its_own_look_alike():
    confusable_with("machine", "sm01", ["sm01"])
    assert LookAlikes(["sm01"]).clash("sm01") is None


def test_the_first_of_two_look_alikes_wins_and_both_stay_accepted_once_in_use():
    names = LookAlikes(["sm01", "\u0455m01"])  # both stored before the check existed
    assert names.clash("\u0455m01") is None and names.clash("sm01") is None
    assert names.clash("\uff53\uff4d\uff10\uff11") == "sm01"
    assert sorted(names) == ["sm01", "ѕm01"] and len(names) == 2


# Names as a plant writes them: letters of several scripts, digits, marks, separators.
_ALPHABET = st.characters(
    codec="utf-8",
    categories=("L", "M", "N", "P", "S", "Zs"),
)
names = st.text(_ALPHABET, min_size=1, max_size=12) | st.text(min_size=1, max_size=12)


@settings(max_examples=3000, deadline=None)
@given(names)
def test_a_skeleton_is_its_own_skeleton(name: str):
    once = skeleton(name)
    assert skeleton(once) == once


@settings(max_examples=1500, deadline=None)
@given(names, st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
def test_names_equal_under_unicode_normalization_collide(name: str, form: str):
    other = unicodedata.normalize(form, name)
    assert skeleton(other) == skeleton(name)
    if other != name:
        with pytest.raises(Confusable):
            confusable_with("machine", other, [name])
