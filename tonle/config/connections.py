"""`[mqtt]` and `[influxdb]`: where the broker and the database are, and how to log in.

Secrets are never in the file: a `password_env` (or `token_env`) key names the
environment variable that holds the secret.
"""

from __future__ import annotations

from typing import Literal

from tonle.config.fields import Port, PosFloat, Section, secret
from tonle.config.problems import ConfigError, Problem

__all__ = ["InfluxConfig", "MqttConfig"]


class MqttConfig(Section, frozen=True):
    host: str = "127.0.0.1"
    port: Port = 1883
    username: str = ""
    password_env: str = ""
    client_id: str = ""

    def password(self) -> str | None:
        return secret(self.password_env, "mqtt.password_env")


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
                    "is v2 but neither 'influxdb.bucket' nor 'influxdb.database' is set",
                    "set 'influxdb.bucket' to the bucket to write to",
                )
            )
        if self.api == "v1":
            found.extend(
                Problem(
                    key,
                    "is only used when 'influxdb.api' is v2",
                    "set api = 'v2' or remove the key (the v1 API writes to 'influxdb.database' "
                    "with username and password_env)",
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
