"""What is wrong with a config file, as sentences a technician can act on.

A check collects every `Problem` of a file instead of stopping at the first, so one
run of `check-config` lists them all. A problem names the key in the words of the
file (`'influxdb.api'`, and a device by its name: `device 'press-1'`) and carries
its fix; `ConfigError` holds the list and prints one problem per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tonle.errors import TonleError

__all__ = ["ConfigError", "Problem", "join_key"]


def join_key(prefix: str, key: str) -> str:
    """`prefix.key`, or `prefix[3]` for a list index; either part may be empty."""
    if not prefix:
        return key
    if not key:
        return prefix
    return f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config: where, what, and what to do.

    key:     the key path inside the file (or inside the device, when `device` is set).
    text:    what is wrong. With `about=True` it continues a sentence that starts with
             the quoted key ("is 'v3'"); otherwise it stands alone after "'key': ".
    fix:     what to do about it, or "" when the text already says so.
    device:  the device section it is about, by name ("press-1"), or "".
    """

    key: str
    text: str
    fix: str = ""
    device: str = ""
    about: bool = True

    def under(self, prefix: str = "", device: str = "") -> Problem:
        """The same problem seen from a section further out (its key prefixed, its device named).

        A problem without a key is a sentence about the whole section; it keeps reading as one.
        """
        about = self.about and bool(self.key)
        return replace(self, key=join_key(prefix, self.key), device=self.device or device, about=about)

    def __str__(self) -> str:
        if not self.key:
            sentence = self.text
        elif self.about:
            sentence = f"'{self.key}' {self.text}"
        else:
            sentence = f"'{self.key}': {self.text}"
        if self.device:
            sentence = f"{self.device}: {sentence}"
        return f"{sentence}; {self.fix}" if self.fix else sentence


class ConfigError(TonleError, ValueError):
    """The configuration is wrong: every problem found, each naming its key and its fix.

    `ConfigError("sentence; fix")` still works for a single problem; checks that
    collect pass `problems=`. `source` (the file) prefixes every line when printed.
    """

    def __init__(
        self,
        message: str = "",
        *,
        fix: str = "",
        problems: Sequence[Problem] = (),
        source: str = "",
        **data: object,
    ) -> None:
        found = list(problems) or [Problem("", message, fix)]
        super().__init__(message or str(found[0]), fix=fix, **data)
        self.problems = found
        self.source = source

    def lines(self) -> list[str]:
        """One line per problem, each starting with the file it is in."""
        return [f"{self.source}: {p}" if self.source else str(p) for p in self.problems]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __reduce__(self) -> tuple[object, ...]:  # keep the problems across pickling (multiprocessing)
        return (_rebuild, (self.problems, self.source))


def _rebuild(problems: list[Problem], source: str) -> ConfigError:
    return ConfigError(problems=problems, source=source)
