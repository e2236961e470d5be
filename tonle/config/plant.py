"""`[plant]`: what is true of the whole plant rather than of one service.

`language` is the language every person at the plant reads: the report, and whatever
else words its sentences through `tonle.messages`. Unset, the environment decides
(LANG and friends), so a Khmer desktop gets Khmer without a config; `--lang` on the
command line wins over both.
"""

from __future__ import annotations

from typing import Literal

from tonle.config.fields import Section

__all__ = ["PlantConfig"]


class PlantConfig(Section, frozen=True):
    # "en" (English) or "km" (Khmer); None: from the environment, else English.
    language: Literal["en", "km"] | None = None
