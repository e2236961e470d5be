"""`[plant]`: what is true of the whole plant rather than of one service.

`language` is the language every person at the plant reads: the report, and whatever
else words its sentences through `tonle.messages`. Unset, the environment decides
(LANG and friends), so a Khmer desktop gets Khmer without a config; `--lang` on the
command line wins over both.

`defect_types` are the defects the plant's end-of-line check records, as its QC inspectors
name them (`tonle defect add --type ...` refuses any other, so a typo never becomes a new
type on the dashboards); `site` and `area` are where `tonle defect add` and `tonle andon
ack` place a line when the command line does not say.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from tonle.config.fields import Section
from tonle.contract.floor import DEFAULT_DEFECT_TYPES

__all__ = ["PlantConfig"]


class PlantConfig(Section, frozen=True):
    # "en" (English) or "km" (Khmer); None: from the environment, else English.
    language: Literal["en", "km"] | None = None
    defect_types: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_DEFECT_TYPES))
    site: str = "demo-plant"
    area: str = "sewing"
