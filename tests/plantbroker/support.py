"""A plant's own MQTT broker as a plant's IT runs it: a real mosquitto, TLS only, a password per user.

Not Tonle's secure broker (which takes a client certificate as the identity): this one has a
server certificate signed by the plant CA of `tonle.security` and a `password_file`, and lets no
one in without a login, so the device sources' TLS and login are met by the real thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tonle.app.plant_broker import PasswordBroker as AppPasswordBroker

__all__ = ["PASSWORD", "USER", "PasswordBroker"]

USER, PASSWORD = "tonle-gw", "s3cret-plant"


@dataclass
class PasswordBroker(AppPasswordBroker):
    """The plant's broker with the tests' user (tonle.app.plant_broker)."""

    users: dict[str, str] = field(default_factory=lambda: {USER: PASSWORD})
