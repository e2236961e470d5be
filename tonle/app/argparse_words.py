"""argparse's own words ("usage:", "options:", its errors) from Tonle's catalogue.

argparse words its help and errors through `gettext` ("The output of the argparse
module such as its help text and error messages are all made translatable using the
gettext module", Python's argparse HOWTO): it calls the module-level names
`argparse._` and `argparse.ngettext` (bound to `gettext.gettext` / `gettext.ngettext`)
each time it writes a sentence. `speaking_tonle()` binds those two names to
`tonle.messages` while Tonle builds its parser and parses a command line, so
`tonle --lang km --help` and `tonle --lang km demo --bogus` read in Khmer.

Why this way and not another:
- The route the HOWTO shows (gettext's process-wide text domain and a compiled `.mo`
  found through LANGUAGE/LANG) cannot follow `--lang`: it reads the environment, which
  children inherit, and needs a `.mo` on disk, which Tonle does not build (its `.po` is
  compiled in memory, see `tonle.messages`); and it changes `gettext.gettext` for
  every library in the process.
- A parser or formatter subclass reaches "usage:" and the group titles, but not the
  errors: "the following arguments are required", "invalid choice", "expected one
  argument" are worded deep in `parse_known_args` and arrive at `error()` already in
  English.
Rebinding the two names argparse looks up at call time, only while Tonle's own parser
runs, and putting back what was there, touches nothing else.

`ARGPARSE_MSGIDS` are argparse's msgids in Python 3.11, word for word (argparse's
`%`-placeholders, not `{}`): marked with `N_` here so `pybabel extract` puts them in
Tonle's catalogue beside its own sentences. `tests/app/test_argparse_words.py` fails
when the running argparse asks for a msgid that is not here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from tonle.messages import N_, _, ngettext

__all__ = ["ARGPARSE_MSGIDS", "argparse_plurals", "speaking_tonle"]

ARGPARSE_MSGIDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("subcommands"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("unexpected option string: %s"),
    N_("can't open '%(filename)s': %(error)s"),
    N_('argument "-" with mode %r'),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    # Mistakes in a parser's own code, not in a command line: a developer meets them first.
    N_(".__call__() not defined"),
    N_("conflicting subparser: %s"),
    N_("conflicting subparser alias: %s"),
    N_("cannot merge actions - two groups are named %r"),
    N_("'required' is an invalid argument for positionals"),
    N_("invalid option string %(option)r: must start with a character %(prefix_chars)r"),
    N_("dest= is required for options like %r"),
    N_("invalid conflict_resolution value: %r"),
    N_("mutually exclusive arguments must be optional"),
    N_("cannot have multiple subparser arguments"),
    N_("%r is not callable"),
)


def argparse_plurals(n: int) -> tuple[str, ...]:
    """argparse's two plural sentences for `n`, named here so `pybabel extract` finds them as plurals."""
    return (
        ngettext("expected %s argument", "expected %s arguments", n),
        ngettext("conflicting option string: %s", "conflicting option strings: %s", n),
    )


@contextmanager
def speaking_tonle() -> Iterator[None]:
    """argparse words its help and errors from Tonle's catalogue inside (the chosen language)."""
    before = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = _, ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = before  # type: ignore[attr-defined]
