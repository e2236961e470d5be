"""The words of a maintenance alert, in one place: what was seen, how long is left, how sure, what to do.

An alert is worded once, when the rules decide it (`analytics.rules`), and stored and sent
as worded: the live view, the shift report and the dashboards all show this text. So the
rules of the wording live here, where a property test can hold them for every band:

- A running time is said as a person reads it: minutes below 2 h, hours below 2 days,
  days above; never "0.0" (less than a minute is said in words).
- A band whose ends read the same is said once ("about 6 min"); one whose early end is
  under a minute is "up to ..."; one with no late end is "... or more".
- The headline ("may fail within ...") is the band's early end, the same words, and the
  planning horizon it names is never shorter than that early end (the rules fire only
  when the early end is inside the horizon).
- What to do follows from what is known: with a band, act before its early end, named as
  a time; without one, no "early end" is mentioned.
"""

from __future__ import annotations

import math

from tonle.messages import N_, render

__all__ = ["andon", "band", "derate", "duration", "life", "maintenance", "story"]

MINUTE_H = 1 / 60
_UNITS = {
    "min": (N_("{n} min"), N_("{lo} to {hi} min")),
    "h": (N_("{n} h"), N_("{lo} to {hi} h")),
    "days": (N_("{n} days"), N_("{lo} to {hi} days")),
}


def _amount(hours: float) -> tuple[str, str] | None:
    """(number, unit) of a running time, or None when it is under a minute."""
    hours = max(0.0, hours)
    minutes = hours * 60
    if round(minutes) < 1:
        return None
    if minutes < 119.5:
        return str(round(minutes)), "min"
    if hours < 47.5:
        return _short(hours), "h"
    return _short(hours / 24), "days"


def _short(x: float) -> str:
    """One decimal below 10 (2.5), whole numbers above; never a trailing .0."""
    return f"{x:.1f}".removesuffix(".0") if x < 9.95 else f"{x:.0f}"


def duration(hours: float) -> str:
    """A running time in words: '6 min', '3.5 h', '4 days'; 'less than a minute'."""
    got = _amount(hours)
    if got is None:
        return render(N_("less than a minute"))
    n, unit = got
    return render(_UNITS[unit][0], {"n": n})


def band(lower_h: float, upper_h: float) -> str:
    """The range of running time left: 'about 6 min', '40 to 55 min', '50 min to 3 h', 'up to 5 min'.

    Both ends finite, lower <= upper (`life` makes them so).
    """
    lo, hi = _amount(lower_h), _amount(upper_h)
    if hi is None:
        return duration(upper_h)  # less than a minute
    if lo == hi:
        return render(N_("about {time}"), {"time": duration(upper_h)})
    if lo is None:
        return render(N_("up to {time}"), {"time": duration(upper_h)})
    if lo[1] == hi[1]:
        return render(_UNITS[lo[1]][1], {"lo": lo[0], "hi": hi[0]})
    return render(N_("{lo} to {hi}"), {"lo": duration(lower_h), "hi": duration(upper_h)})


def life(rul_h: float, lower_h: float, upper_h: float, coverage: float) -> str:
    """How long is left and how sure, or that there is no estimate yet."""
    if not math.isfinite(rul_h) and not math.isfinite(lower_h):
        return render(N_("no estimate yet of the running time left (no steady wear trend)"))
    lower_h = max(0.0, lower_h if math.isfinite(lower_h) else rul_h)
    rul_h = max(lower_h, rul_h)
    upper_h = max(rul_h, upper_h)
    chance = f"{coverage:.0%}"
    if not math.isfinite(upper_h):  # the trend is not yet significant: no late end
        if _amount(lower_h) is None or not math.isfinite(rul_h):
            return render(N_("no sure estimate yet of the running time left"))
        return render(
            N_("{time} or more of running left ({chance} sure; most likely {rul})"),
            {"time": duration(lower_h), "chance": chance, "rul": duration(rul_h)},
        )
    words = {"band": band(lower_h, upper_h), "chance": chance, "rul": duration(rul_h)}
    if words["rul"] in (duration(lower_h), duration(upper_h)):
        return render(N_("{band} of running left ({chance} sure)"), words)
    return render(N_("{band} of running left ({chance} sure; most likely {rul})"), words)


def story(life_text: str, where: str | None, confidence: float = float("nan"), bearing: str = "") -> str:
    """The life and, when the vibration points somewhere, where; with how sure the diagnosis is
    and the bearing to order when both are known (the mechanic's shopping list)."""
    if where is None:
        return life_text
    if bearing and confidence == confidence:  # not NaN
        return render(
            N_(
                "{life}; the vibration points to {where} (confidence {confidence} %); order bearing {bearing}"
            ),
            {"life": life_text, "where": where, "confidence": f"{100 * confidence:.0f}", "bearing": bearing},
        )
    return render(N_("{life}; the vibration points to {where}"), {"life": life_text, "where": where})


def maintenance(machine: str, health: float, limit: float, story_text: str) -> str:
    return render(
        N_(
            "{machine}: vibration health has fallen to {health} (limit {limit}), {story}; "
            "stop the machine and replace the bearing before it seizes"
        ),
        {"machine": machine, "health": f"{health:.3f}", "limit": f"{limit:.2f}", "story": story_text},
    )


def derate(
    machine: str,
    *,
    health: float,
    limit: float,
    speed: float,
    story_text: str,
    early_h: float | None,
    horizon_h: float | None,
) -> str:
    """A derate: the RUL band's early end inside the horizon (`horizon_h` given), or health low.

    `early_h`: the band's early end, None when there is no band; the advice names it.
    """
    act = (
        render(N_("order the bearing and plan the repair; the trend will tell how long is left"))
        if early_h is None
        else render(N_("replace the bearing now"))
        if _amount(early_h) is None
        else render(N_("order the bearing and replace it within {time}"), {"time": duration(early_h)})
    )
    words = {
        "machine": machine,
        "health": f"{health:.3f}",
        "limit": f"{limit:.2f}",
        "story": story_text,
        "speed": f"{speed:.0%}",
        "todo": act,
    }
    if horizon_h is None or early_h is None:
        return render(
            N_(
                "{machine}: vibration health has fallen to {health} (limit {limit}), {story}; "
                "speed reduced to {speed} to slow the wear: {todo}"
            ),
            words,
        )
    words["early"] = (
        render(N_("at any moment"))
        if _amount(early_h) is None
        else render(N_("within {time}"), {"time": duration(early_h)})
    )
    words["horizon"] = duration(max(horizon_h, early_h))
    return render(
        N_(
            "{machine}: the bearing may fail {early} (planning horizon {horizon}); health {health}, {story}; "
            "speed reduced to {speed} to slow the wear: {todo}"
        ),
        words,
    )


def andon(machine: str) -> str:
    return render(N_("{machine} has broken down; andon lit, call the mechanic"), {"machine": machine})
