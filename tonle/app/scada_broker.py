"""The SCADA's MQTT broker as `tonle sparkplug-bridge` names it on its command line.

A plant's SCADA broker is run by the plant's IT, like the broker a Sparkplug B or plain MQTT
device source reads (tonle.io.plant_broker): TLS is on when a CA is given (the CA that signed
the broker's certificate, so the bridge knows it is talking to that broker), the login is a
user name with the password in an environment variable (a password on the command line would
be in every `ps` listing and the shell's history), and a client certificate only when the
broker asks for one. The TLS files and login go to the same `MqttConnection` the sources use
(`plant_tls`); only the fix sentences differ, since here the things to change are the
`--scada-*` options, not keys of a device section.

What can be seen before connecting (a file that is not there, a variable that is not set, a
certificate without its key) is a `ConfigError` with one problem per line, each with its fix.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from tonle.config import ConfigError
from tonle.config.problems import Problem
from tonle.io.mqtt import MqttConnection, Will
from tonle.io.mqtt_tls import Fixes
from tonle.io.plant_broker import plant_tls
from tonle.messages import N_, _

__all__ = ["SCADA_FIXES", "ScadaBroker"]

PLAIN_PORT, TLS_PORT = 1883, 8883

SCADA_FIXES = Fixes(
    unreachable=N_("check --scada-host and --scada-port, and that the SCADA's MQTT broker is running"),
    untrusted=N_(
        "--scada-ca-file must be the CA certificate that signed the SCADA broker's certificate (ask "
        "whoever runs that broker), and --scada-host a name on that certificate"
    ),
    cert_refused=N_(
        "check --scada-cert-file and --scada-key-file: the SCADA's broker does not accept this "
        "certificate, or wants one"
    ),
    closed=N_(
        "the SCADA's broker hung up during the greeting: check --scada-port, --scada-ca-file (give it "
        "when the broker speaks TLS), and --scada-cert-file and --scada-key-file when it asks for a "
        "client certificate"
    ),
    refused=N_(
        "check --scada-username, the password in the variable --scada-password-env names, and what "
        "the SCADA's broker allows that user"
    ),
)


@dataclass(frozen=True)
class ScadaBroker:
    """Where the SCADA's broker is and how to log in (a `tonle.io.plant_broker.PlantBroker`).

    `port` 0 means the usual one: 8883 with TLS (`ca_file` given), else 1883.
    """

    host: str
    port: int = 0
    username: str = ""
    password_env: str = ""  # the name of the variable that holds the password, never the password
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    name: str = "scada"

    @property
    def tcp_port(self) -> int:
        if self.port:
            return self.port
        return TLS_PORT if self.ca_file else PLAIN_PORT

    def password(self) -> str | None:
        return os.environ.get(self.password_env) if self.password_env else None

    def problems(self) -> list[Problem]:
        """Everything wrong that shows before connecting, each with its fix (empty: all is well)."""
        found: list[Problem] = []
        for option, path in (
            ("--scada-ca-file", self.ca_file),
            ("--scada-cert-file", self.cert_file),
            ("--scada-key-file", self.key_file),
        ):
            if path and not os.access(path, os.R_OK):
                found.append(
                    Problem(
                        option,
                        _("names {path}, which does not exist or cannot be read").format(path=path),
                        _("check the path; a relative path is read from the folder the command runs in"),
                    )
                )
        pair = _(
            "a client certificate needs its key: give both --scada-cert-file and --scada-key-file, or neither"
        )
        if self.cert_file and not self.key_file:
            found.append(Problem("--scada-key-file", _("is missing, but --scada-cert-file is given"), pair))
        if self.key_file and not self.cert_file:
            found.append(Problem("--scada-cert-file", _("is missing, but --scada-key-file is given"), pair))
        if (self.cert_file or self.key_file) and not self.ca_file:
            found.append(
                Problem(
                    "--scada-ca-file",
                    _("is missing, but a client certificate is given, and it is sent only over TLS"),
                    _(
                        "give --scada-ca-file, the CA certificate that signed the SCADA broker's "
                        "certificate (TLS is on when it is given)"
                    ),
                )
            )
        if self.password_env and not self.username:
            found.append(
                Problem(
                    "--scada-password-env",
                    _("is given without --scada-username"),
                    _("give --scada-username too: the password is that user's"),
                )
            )
        if self.password_env and os.environ.get(self.password_env) is None:
            found.append(
                Problem(
                    "--scada-password-env",
                    _("names the environment variable {variable}, which is not set").format(
                        variable=self.password_env
                    ),
                    _(
                        "set {variable} to the password of --scada-username before starting the bridge "
                        "(a password is never given on the command line)"
                    ).format(variable=self.password_env),
                )
            )
        return found

    def check(self) -> None:
        """Raise ConfigError listing every problem (one line each, with its fix)."""
        found = self.problems()
        if found:
            raise ConfigError(problems=found)

    def connection(
        self, client_id: str, *, will: Will | None = None, on_connect_hook: Callable[[], None] | None = None
    ) -> MqttConnection:
        """An MQTT v5 session on the SCADA's broker, not yet connected; it retries until cancelled."""
        return MqttConnection(
            self.host,
            self.tcp_port,
            client_id=client_id,
            will=will,
            username=self.username or None,
            password=self.password(),
            tls=plant_tls(self),
            fixes=SCADA_FIXES,
            on_connect_hook=on_connect_hook,
        )
