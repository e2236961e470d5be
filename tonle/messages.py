"""Where every sentence a person reads is looked up: the gettext catalogue of domain "tonle".

A module that words a sentence for a technician or a plant manager writes it as a
catalogue entry, never as an f-string built where the thing happens:

- `_("...")` when the sentence is used at once (a help text, a log line, a summary);
- `N_("...")` when it is only named now and worded later: an exception's message
  template, filled from the exception's data where it reaches a person (`render`).

Placeholders are `{name}` fields filled by `str.format` from named data, so a
translation may put them in another order. `pybabel extract -F babel.cfg -o
tonle/locale/tonle.pot .` (from the repository root) finds both kinds; a language's
compiled catalogue goes in `tonle/locale/<language>/LC_MESSAGES/tonle.mo`.

The language is chosen once per process, from `TONLE_LANGUAGE` or else the usual
LANGUAGE / LC_ALL / LC_MESSAGES / LANG; without a catalogue for it the English
msgids are shown as they are.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DOMAIN", "LOCALE_DIR", "N_", "_", "ngettext", "render", "set_language"]

DOMAIN = "tonle"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGE_ENV = "TONLE_LANGUAGE"

_catalogue: gettext.NullTranslations | None = None


def set_language(language: str | None = None, localedir: Path | None = None) -> gettext.NullTranslations:
    """Load the catalogue for `language` (None: the environment's choice) for this process.

    `localedir` is for a catalogue kept elsewhere (tests); the package's own by default.
    """
    global _catalogue
    chosen = language or os.environ.get(LANGUAGE_ENV) or None
    _catalogue = gettext.translation(
        DOMAIN, localedir or LOCALE_DIR, languages=[chosen] if chosen else None, fallback=True
    )
    return _catalogue


def _translations() -> gettext.NullTranslations:
    return _catalogue if _catalogue is not None else set_language()


def _(message: str) -> str:
    """The sentence in the chosen language (the catalogue entry itself when there is none)."""
    if not message:
        return message  # gettext("") is the catalogue's header, never a sentence
    return _translations().gettext(message)


def N_(message: str) -> str:
    """Mark a sentence for the catalogue without looking it up yet (see `render`)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural sentence for `n`, as the chosen language counts."""
    return _translations().ngettext(singular, plural, n)


def render(template: str, data: Mapping[str, object] | None = None) -> str:
    """Look a deferred sentence up and fill its `{fields}` from `data`.

    A translation whose fields do not match the data falls back to the English
    template, and a template that does not fit its data is shown unfilled: a
    person always gets a sentence, never a KeyError raised while reporting an error.
    """
    text = _(template)
    if not data:
        return text
    for candidate in (text, template):
        try:
            return candidate.format(**data)
        except (KeyError, IndexError, ValueError, AttributeError):
            continue
    return text
