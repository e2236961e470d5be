"""The words a gateway answers a refused command with (`CommandAck.code`)."""

__all__ = ["REFUSAL_CODES"]

REFUSAL_CODES = (
    "unsigned",
    "unknown_key",
    "revoked_key",
    "bad_signature",
    "not_owned",
    "replayed",
    "expiry_too_far",
    "from_the_future",
    "expired",
)
"""Why a gateway refused a command before it reached the machine (`CommandAck.code`).

The machine's own refusals (`rejected`: not allowed, out of range, the device said no) carry
codes too (`not_allowed`, `out_of_range`, `no_value`, `machine_refused`); these are the ones
the agent counts one by one in `pipeline` (`refused_<code>`, `tonle.schema`)."""
