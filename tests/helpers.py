"""Test plumbing: the in-process rig of the application layer (`tonle.app.rig`), under its old name;
and keys that sign commands as the analytics and operators do."""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tonle.app.rig import WAIT_S, config_for, count, running_collector, wait_for
from tonle.security.signing import Signer

__all__ = ["WAIT_S", "config_for", "count", "new_signer", "running_collector", "wait_for"]


def new_signer(name: str = "analytics") -> Signer:
    """A fresh Ed25519 key named `name`, in memory."""
    return Signer(name, Ed25519PrivateKey.generate())
