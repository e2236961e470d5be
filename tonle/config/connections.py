"""`[mqtt]` and `[influxdb]`: where the broker and the database are, and how to log in.

Secrets are never in the file: a `password_env` (or `token_env`) key names the
environment variable that holds the secret. MQTT runs over TLS unless a lab turns it off:
the broker proves itself with a certificate the plant CA signed (`ca_file`), and each client
with its own (`cert_file`, `key_file`, made by `tonle provision`), which the broker takes as
the client's identity (docs/security.md).
"""

from __future__ import annotations

import os
from typing import Literal

from tonle.config.fields import Port, PosFloat, Section, secret
from tonle.config.problems import ConfigError, Problem
from tonle.messages import _

__all__ = ["InfluxConfig", "MqttConfig", "device_tls_problems"]


TLS_FILES = ("ca_file", "cert_file", "key_file")


class MqttConfig(Section, frozen=True):
    """The broker, and who this process is to it.

    `tls = false` is for a lab broker on loopback only: nothing then proves who sent what,
    and the broker Tonle provisions does not listen in plain text (docs/security.md).
    """

    host: str = "127.0.0.1"
    port: Port = 8883
    tls: bool = True
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password_env: str = ""
    client_id: str = ""

    def password(self) -> str | None:
        return secret(self.password_env, "mqtt.password_env")

    def tls_files(self) -> tuple[str, str, str] | None:
        """(CA, certificate, key) to connect with, or None in a lab; ConfigError naming the key.

        Checked when a connection is made rather than when the file is read, so a config
        used only for reports or analysis does not need certificates.
        """
        if not self.tls:
            return None
        found = []
        for key in TLS_FILES:
            path = getattr(self, key)
            if not path:
                found.append(
                    Problem(
                        key,
                        _("is empty, and MQTT runs over TLS"),
                        _(
                            "run `tonle provision gateway NAME ...` (or `tonle provision service NAME`) "
                            "and use the ca.crt, NAME.crt and NAME.key it writes; a lab broker may set "
                            "mqtt.tls = false"
                        ),
                    )
                )
            elif not os.access(path, os.R_OK):
                found.append(
                    Problem(
                        key,
                        _("names {path}, which does not exist or cannot be read").format(path=path),
                        _("check the path"),
                    )
                )
        if found:
            raise ConfigError(problems=[p.under("mqtt") for p in found])
        return self.ca_file, self.cert_file, self.key_file


def device_tls_problems(ca_file: str, cert_file: str, key_file: str) -> list[Problem]:
    """The TLS keys of a device section on a plant's own broker (Sparkplug B, plain MQTT devices).

    There TLS is on when `ca_file` is set, and a client certificate is optional (the plant's
    broker may take a password instead); each file named must be there when the gateway starts,
    checked with the config so `check-config` says so before the gateway runs. Keys as seen from
    the device section.
    """
    found: list[Problem] = []
    for key, path in zip(TLS_FILES, (ca_file, cert_file, key_file), strict=True):
        if path and not os.access(path, os.R_OK):
            found.append(
                Problem(
                    key,
                    _("names {path}, which does not exist or cannot be read").format(path=path),
                    _("check the path; a relative path is read from the config file's folder"),
                )
            )
    pair_fix = _("a client certificate needs its key: set both cert_file and key_file, or neither")
    if cert_file and not key_file:
        found.append(Problem("key_file", _("is missing, but cert_file is set"), pair_fix))
    if key_file and not cert_file:
        found.append(Problem("cert_file", _("is missing, but key_file is set"), pair_fix))
    if (cert_file or key_file) and not ca_file:
        found.append(
            Problem(
                "ca_file",
                _("is missing, but a client certificate is set, and it is sent only over TLS"),
                _(
                    "set ca_file to the CA certificate that signed the broker's certificate "
                    "(TLS is on when it is set)"
                ),
            )
        )
    return found


class InfluxConfig(Section, frozen=True):
    """Where the collector stores points.

    `api` picks the write endpoint: "v1" is `/write` with `database` (InfluxDB 1.x,
    3.x); "v2" is `/api/v2/write` with `org` and `bucket` (InfluxDB 2.x, 3.x, Cloud,
    VictoriaMetrics; the bucket defaults to `database`). A v2 token is never in the
    file: `token_env` names the environment variable that holds it.
    """

    url: str = "http://127.0.0.1:8086"
    database: str = "tonle"
    username: str = ""
    password_env: str = ""
    gzip: bool = False
    timeout_s: PosFloat = 30.0
    api: Literal["v1", "v2"] = "v1"
    org: str = ""
    bucket: str = ""
    token_env: str = ""

    def __post_init__(self) -> None:
        found = self.problems()
        if found:
            raise ConfigError(problems=found)

    def problems(self) -> list[Problem]:
        """Keys that contradict the chosen `api` (key paths as seen from `[influxdb]`)."""
        found: list[Problem] = []
        if self.api == "v2" and not (self.bucket or self.database):
            found.append(
                Problem(
                    "api",
                    _("is v2 but neither 'influxdb.bucket' nor 'influxdb.database' is set"),
                    _("set 'influxdb.bucket' to the bucket to write to"),
                )
            )
        if self.api == "v1":
            found.extend(
                Problem(
                    key,
                    _("is only used when 'influxdb.api' is v2"),
                    _(
                        "set api = 'v2' or remove the key (the v1 API writes to 'influxdb.database' "
                        "with username and password_env)"
                    ),
                )
                for key in ("org", "bucket", "token_env")
                if getattr(self, key)
            )
        return found

    def password(self) -> str | None:
        return secret(self.password_env, "influxdb.password_env")

    def token(self) -> str | None:
        return secret(self.token_env, "influxdb.token_env")

    def v2_bucket(self) -> str:
        """The bucket a v2 writer writes to: `bucket`, or the database name when unset."""
        return self.bucket or self.database
