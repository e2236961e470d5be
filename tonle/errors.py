"""The root of every failure a person is expected to fix, carrying its data.

A `TonleError` says what is wrong and, in `fix`, what to do about it; the attributes in
`data` say which device, key, address or file it was about, so a caller can act on them
and the boundary (the CLI, a log line for a technician) words one plain sentence without
a traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["TonleError"]


class TonleError(Exception):
    """A failure with a fix: `str(err)` is "what is wrong; how to fix it"."""

    def __init__(self, message: str, *, fix: str = "", **data: object) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.data = data

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}" if self.fix else self.message
