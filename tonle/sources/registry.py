"""The registry of device source types: what a `[[devices]]` section's `type` can name.

Adding a device protocol is one new module plus one registration. The module defines
the section's config struct (a `DeviceConfig` subclass tagged with its `type`) and a
factory that imports the heavy parts (the driver, its libraries) only when it is
called; the registration is one line in the `tonle.sources` entry-point group of
pyproject.toml pointing at the module's `SourceType`. The gateway config, `tonle agent
check-config` and docs/devices.md all read this registry, so none of them lists the
types by hand and no stage imports another to find a source.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from tonle.errors import TonleError
from tonle.io.clock import Clock
from tonle.messages import N_, _
from tonle.sources.base import Source

__all__ = [
    "ENTRY_POINT_GROUP",
    "DeviceConfig",
    "GatewayContext",
    "SourceType",
    "SourceUnavailable",
    "UnknownSourceType",
    "build_source",
    "register",
    "source_type",
    "source_types",
    "unregister",
]

log = logging.getLogger("tonle.sources")

ENTRY_POINT_GROUP = "tonle.sources"


class DeviceConfig(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Base of every `[[devices]]` section; a subclass per registered type, tagged by `type`.

    `config_variants` and `config_label` tell `tonle.config.check` to pick the struct by
    `type` from the registry and to name each device by its `name` in problems.
    """

    config_label: ClassVar[str] = N_("device")  # worded where a problem names the section
    name: str

    @classmethod
    def config_variants(cls) -> dict[str, type[msgspec.Struct]]:
        return {name: st.config for name, st in source_types().items()}

    def machines(self) -> list[str]:
        """The machines behind this device, known from the config alone (for duplicate checks)."""
        return []


@dataclass(frozen=True, slots=True)
class GatewayContext:
    """What a factory may need to know about the gateway a source runs in."""

    gateway: str
    site: str
    area: str
    line: str


Factory = Callable[[Any, Clock, GatewayContext], Source]


@dataclass(frozen=True, slots=True)
class SourceType:
    """One registered device type.

    name:     the `type` value of its `[[devices]]` sections (also its entry-point name).
    config:   its config struct, a `DeviceConfig` subclass tagged with `name`.
    factory:  builds the Source from (config, clock, gateway context); imports the
              driver only when called, so reading a config stays light.
    summary:  one line for docs/devices.md and check-config.
    needs:    modules the factory imports that an install may lack (checked before building).
    extra:    the pip extra that installs them ("sim" -> pip install 'tonle[sim]').
    """

    name: str
    config: type[DeviceConfig]
    factory: Factory
    summary: str
    needs: tuple[str, ...] = ()
    extra: str = ""

    def __post_init__(self) -> None:
        tag = self.config.__struct_config__.tag
        if tag != self.name:
            raise ValueError(
                f"source type {self.name!r}: its config struct is tagged {tag!r}, not {self.name!r}"
            )

    def missing(self) -> list[str]:
        """The modules this type needs that are not installed here."""
        return [m for m in self.needs if importlib.util.find_spec(m) is None]

    def unavailable(self) -> SourceUnavailable | None:
        """Why this install cannot build this type, or None when it can."""
        lacking = self.missing()
        if not lacking:
            return None
        return SourceUnavailable(
            N_("type '{source_type}' needs {needs}, which this install lacks"),
            fix=N_("install it with: {command}"),
            command=f"pip install 'tonle[{self.extra}]'" if self.extra else f"pip install {lacking[0]}",
            needs=", ".join(lacking),
            source_type=self.name,
            missing=lacking,
            extra=self.extra,
        )


class UnknownSourceType(TonleError, ValueError):
    """A device section names a type no installed package registers."""


class SourceUnavailable(TonleError):
    """A registered type whose driver's packages are not installed (an edge-only install, say)."""


_registry: dict[str, SourceType] | None = None


def source_types() -> Mapping[str, SourceType]:
    """Every registered source type by name: the entry points, then `register()` calls."""
    global _registry
    if _registry is None:
        _registry = _load_entry_points()
    return _registry


def register(st: SourceType) -> None:
    """Register a type at run time (a plugin under test, a one-off script); replaces one of the same name."""
    source_types()
    assert _registry is not None
    _registry[st.name] = st


def unregister(name: str) -> None:
    """Forget a type registered at run time (or an installed one, for this process)."""
    source_types()
    assert _registry is not None
    _registry.pop(name, None)


def source_type(name: str) -> SourceType:
    try:
        return source_types()[name]
    except KeyError:
        known = ", ".join(sorted(source_types()))
        raise UnknownSourceType(
            N_("no device type is called {source_type!r}"),
            fix=N_("use one of: {choices}"),
            source_type=name,
            choices=known,
        ) from None


def build_source(config: DeviceConfig, clock: Clock, context: GatewayContext) -> Source:
    """The Source for one device section, built by its type's factory."""
    st = source_type(str(type(config).__struct_config__.tag))
    problem = st.unavailable()
    if problem is not None:
        raise problem
    return st.factory(config, clock, context)


def _load_entry_points() -> dict[str, SourceType]:
    found: dict[str, SourceType] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            st = ep.load()
        except ImportError as exc:  # a broken plugin must not keep the gateway's own types from loading
            log.warning(
                _("device type {name!r} ({value}) could not be loaded and is left out: {error}").format(
                    name=ep.name, value=ep.value, error=exc
                )
            )
            continue
        if not isinstance(st, SourceType) or st.name != ep.name:
            raise TypeError(f"entry point {ep.name} = {ep.value!r} must name a SourceType called {ep.name!r}")
        found[st.name] = st
    return found
