"""The report page's small pieces of HTML: escaping, sentences with fields, levels, durations."""

from __future__ import annotations

import html
import math

from tonle.formats import MISSING, number
from tonle.look import FIGURES
from tonle.messages import _

__all__ = ["Html", "dur", "e", "h", "level"]


class Html(str):
    """Text that is already HTML (markup, or escaped): `h` puts it in as it is."""

    __slots__ = ()


def h(sentence: str, **data: object) -> Html:
    """A sentence (already looked up) as HTML, its fields escaped unless they are `Html` already."""
    text = e(sentence)
    if not data:
        return Html(text)
    return Html(text.format(**{k: v if isinstance(v, Html) else e(v) for k, v in data.items()}))


def e(x: object) -> str:
    return html.escape(str(x), quote=True)


def level(figure: str, x: float) -> str:
    """The CSS class (`good`, `mid`, `bad`: the style sheet colours them) of a figure's value.

    The bands are `tonle.look`'s, the same the dashboards colour with.
    """
    return FIGURES[figure].level(float(x)) or ""


def dur(s: float) -> str:
    if not math.isfinite(s):
        return MISSING
    if s >= 3600:
        return _("{hours} h").format(hours=number(s / 3600, 1))
    return _("{minutes} min").format(minutes=number(s / 60))
