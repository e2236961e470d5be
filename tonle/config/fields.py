"""The pieces every config section is made of: the section base, value types, secrets.

Every section is a frozen msgspec struct that refuses unknown keys. Subclasses repeat
`frozen=True`: msgspec inherits it at run time, but type checkers read a dataclass
transform's options per class, so without it mypy takes the subclass for a mutable
dataclass inheriting from a frozen one.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from tonle.config.problems import ConfigError
from tonle.config.wording import NAME_PATTERN
from tonle.messages import _

__all__ = ["NAME_PATTERN", "Fraction", "Name", "Port", "PosFloat", "PosInt", "Section", "secret"]

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
PosFloat = Annotated[float, msgspec.Meta(gt=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
PosInt = Annotated[int, msgspec.Meta(ge=1)]
# The contract's name rule: machine, field and action names end up in topics and line protocol.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]


class Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A section of a config file: typed, immutable, no unknown keys."""


def secret(env_name: str, key: str) -> str | None:
    """The secret held by environment variable `env_name` (None when no variable is named)."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise ConfigError(
            _(
                "{key} says the password is in the environment variable {variable}, but {variable} is not set"
            ).format(key=key, variable=env_name),
            fix=_("set it (e.g. in .env) or clear {key}").format(key=key),
            key=key,
            variable=env_name,
        )
    return value
