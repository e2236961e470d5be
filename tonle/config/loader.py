"""Read a config file, apply environment overrides, and check it: every problem, one error.

Any value can be overridden from the environment as TONLE_<SECTION>_<KEY> (for
example TONLE_MQTT_HOST=10.0.0.5), which is how docker-compose injects addresses.
The checking itself is `tonle.config.check`; this module is the file and the
environment around it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

import msgspec

from tonle.config.check import check_document
from tonle.config.problems import ConfigError, Problem
from tonle.config.sections import TonleConfig
from tonle.messages import N_, _

__all__ = ["ENV_PREFIX", "files_beside", "load_config", "parse_config", "read_toml"]

ENV_PREFIX = "TONLE_"
T = TypeVar("T", bound=msgspec.Struct)


def read_toml(path: str | Path, what: str = N_("config file")) -> dict[str, Any]:
    """The document in a TOML file; a missing file or a syntax error is a ConfigError."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            _("{what} {path} does not exist").format(what=_(what), path=p),
            fix=_("check the path"),
            path=str(p),
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            _("{path} is not valid TOML: {reason}").format(path=p, reason=exc),
            fix=_("fix the line it names"),
            path=str(p),
        ) from exc


@overload
def parse_config(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None, source: str = "config"
) -> TonleConfig: ...
@overload
def parse_config(data: Mapping[str, Any], env: Mapping[str, str] | None, source: str, root: type[T]) -> T: ...
@overload
def parse_config(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None, source: str = "config", *, root: type[T]
) -> T: ...
def parse_config(
    data: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    source: str = "config",
    root: type[msgspec.Struct] = TonleConfig,
) -> msgspec.Struct:
    """Check `data` against `root`; TONLE_<SECTION>_<KEY> variables override file values.

    Raises ConfigError listing every problem, each with its key path and fix.
    """
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    overrides, problems = _env_overrides(os.environ if env is None else env, root)
    for section, values in overrides.items():
        if isinstance(merged.get(section, {}), dict):
            merged.setdefault(section, {}).update(values)
    cfg, found = check_document(merged, root)
    problems.extend(found)
    if problems or cfg is None:
        raise ConfigError(problems=problems, source=source)
    return cfg


@overload
def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> TonleConfig: ...
@overload
def load_config(path: str | Path | None, env: Mapping[str, str] | None, root: type[T]) -> T: ...
@overload
def load_config(path: str | Path | None, env: Mapping[str, str] | None = None, *, root: type[T]) -> T: ...
def load_config(
    path: str | Path | None,
    env: Mapping[str, str] | None = None,
    root: type[msgspec.Struct] = TonleConfig,
) -> msgspec.Struct:
    """Read and check a config file (or only defaults and environment when `path` is None)."""
    if path is None:
        return parse_config({}, env, "defaults", root)
    return parse_config(files_beside(read_toml(path), Path(path).parent), env, str(path), root)


# Files a config names that travel with it (a gateway's bundle from `tonle provision`; the
# plant broker's CA and login a `[[devices]]` section of a Sparkplug or MQTT device names).
_CERT_KEYS = ("ca_file", "cert_file", "key_file")
_FILE_KEYS = {"mqtt": _CERT_KEYS}
_LIST_FILE_KEYS = {"devices": _CERT_KEYS}


def files_beside(doc: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Relative certificate paths are relative to the config file, wherever it is run from."""
    for section, keys in _FILE_KEYS.items():
        _beside(doc.get(section), keys, folder)
    for section, keys in _LIST_FILE_KEYS.items():
        items = doc.get(section)
        for item in items if isinstance(items, list) else ():
            _beside(item, keys, folder)
    return doc


def _beside(values: Any, keys: tuple[str, ...], folder: Path) -> None:
    if not isinstance(values, dict):
        return
    for key in keys:
        value = values.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            values[key] = str(folder / value)


def _env_overrides(
    env: Mapping[str, str], root: type[msgspec.Struct]
) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """TONLE_<SECTION>_<KEY> values by section, and the variables that name no key."""
    out: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    top = {f.name: f.type for f in msgspec.structs.fields(root) if _is_struct(f.type)}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in top if rest.startswith(s + "_")), None)
        if section is None:
            continue
        key = rest[len(section) + 1 :]
        keys = sorted(f.name for f in msgspec.structs.fields(top[section]))
        if key not in keys:
            problems.append(
                Problem(
                    "",
                    _("environment variable {name} sets unknown key '{key}'").format(
                        name=name, key=f"{section}.{key}"
                    ),
                    _("allowed: {keys}").format(keys=", ".join(keys)),
                )
            )
            continue
        out.setdefault(section, {})[key] = _parse_env_value(raw)
    return out, problems


def _parse_env_value(raw: str) -> Any:
    """Environment values are TOML literals when they parse as one, else plain strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)
