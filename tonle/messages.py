"""Where every sentence a person reads is looked up: the gettext catalogue of domain "tonle".

A module that words a sentence for a technician or a plant manager writes it as a
catalogue entry, never as an f-string built where the thing happens:

- `_("...")` when the sentence is used at once (a help text, a log line, a summary);
- `N_("...")` when it is only named now and worded later: an exception's message
  template, filled from the exception's data where it reaches a person (`render`).

Placeholders are `{name}` fields filled by `str.format` from named data, so a
translation may put them in another order. `pybabel extract -F babel.cfg -o
tonle/locale/tonle.pot .` (from the repository root) finds both kinds; a language's
catalogue is `tonle/locale/<language>/LC_MESSAGES/tonle.po`.

The `.po` file is read as it is, compiled in memory by Babel when the language is
chosen (a few tens of milliseconds): no build step, so a clean clone, an editable
install and a wheel all read the same file and a stale `.mo` can never be shown. A
folder holding only a compiled `.mo` (a packager's choice, a test) is read by gettext.

The language is chosen per process: `--lang` on the command line, else the plant's
`language` in its config, else the environment (`TONLE_LANGUAGE`, then the usual
LANGUAGE / LC_ALL / LC_MESSAGES / LANG, as gettext reads them), else English. Only
the languages of `LANGUAGES` are chosen; anything else reads as English.
"""

from __future__ import annotations

import gettext
import io
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "_",
    "current_language",
    "language_from_env",
    "ngettext",
    "render",
    "set_language",
    "using_language",
]

DOMAIN = "tonle"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGE_ENV = "TONLE_LANGUAGE"
LANGUAGES = ("en", "km")  # English (the msgids themselves) and Khmer
_LOCALE_ENV = (LANGUAGE_ENV, "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_catalogue: gettext.NullTranslations | None = None
_language = "en"


def language_from_env(env: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for, among `LANGUAGES` ("en" when none of them).

    As gettext: the first variable that is set decides, its `:`-separated entries tried
    in order (`km_KH.UTF-8` is Khmer); "C" or "POSIX" means English.
    """
    env = os.environ if env is None else env
    value = next((env[name] for name in _LOCALE_ENV if env.get(name)), "")
    for entry in value.split(":"):
        code = entry.split(".")[0].split("@")[0].split("_")[0].lower()
        if code in ("c", "posix"):
            return "en"
        if code in LANGUAGES:
            return code
    return "en"


def set_language(language: str | None = None, localedir: Path | None = None) -> gettext.NullTranslations:
    """Load the catalogue for `language` (None: the environment's choice) for this process.

    `localedir` is for a catalogue kept elsewhere (tests); the package's own by default.
    """
    global _catalogue, _language
    chosen = language or language_from_env()
    _catalogue = _load(chosen, localedir or LOCALE_DIR)
    _language = chosen
    return _catalogue


def current_language() -> str:
    """The language sentences, numbers and dates are worded in ("en" or "km")."""
    if _catalogue is None:
        set_language()
    return _language


@contextmanager
def using_language(language: str | None) -> Iterator[str]:
    """Word everything inside in `language` (None: keep the current one), then switch back."""
    before = current_language()
    if language is None or language == before:
        yield before
        return
    set_language(language)
    try:
        yield language
    finally:
        set_language(before)


def _load(language: str, localedir: Path) -> gettext.NullTranslations:
    """The `.po` of `language` compiled in memory, else its `.mo` through gettext, else English."""
    po = localedir / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if po.is_file():
        try:
            from babel.messages.mofile import write_mo
            from babel.messages.pofile import read_po
        except ImportError:  # no Babel: a compiled .mo beside it still works
            pass
        else:
            with po.open("rb") as f:
                catalog = read_po(f, locale=language, domain=DOMAIN)
            buf = io.BytesIO()
            write_mo(buf, catalog)
            buf.seek(0)
            return gettext.GNUTranslations(buf)
    return gettext.translation(DOMAIN, localedir, languages=[language], fallback=True)


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
