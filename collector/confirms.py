"""Tell each gateway which of its spooled messages this collector has stored (or holds).

The other half of `edge_agent.publisher`: a gateway deletes a message from its spool only
when a collector confirms the database holds it (docs/delivery.md). Messages carry their
place in the gateway's spool as MQTT v5 user properties; once the batch holding them is in
InfluxDB (or refused as bad input, which no re-send would mend) they are confirmed *stored*;
while the database is down and the batch waits in the collector's own spool they are
confirmed *held*, and *stored* once the replay has written them.

Confirmations go out once per batch, one message per gateway and spool, as id ranges. A
confirmation the broker loses costs the gateway a re-send, never data.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping

import paho.mqtt.client as paho

from tonle.contract.confirm import (
    PROP_GATEWAY,
    PROP_SPOOL,
    Confirm,
    SpoolRef,
    confirm_topic,
    encode_confirm,
    id_ranges,
    ids_of,
    parse_spool_ref,
)
from tonle.io.mqtt import MqttConnection, MqttError
from tonle.messages import _

__all__ = ["Confirmer", "refs_from_json", "refs_to_json", "spool_ref_of"]

log = logging.getLogger("tonle.collector")
RECENT_MAX = 200_000  # confirmed references remembered, to count duplicates absorbed

Key = tuple[str, int]  # (gateway, spool token)


def spool_ref_of(msg: paho.MQTTMessage) -> SpoolRef | None:
    """Where a message sits in its gateway's spool; None for a device that has no spool."""
    props = getattr(msg, "properties", None)
    pairs = getattr(props, "UserProperty", None) if props is not None else None
    if not pairs:
        return None
    found = dict(pairs)
    return parse_spool_ref(found.get(PROP_GATEWAY), found.get(PROP_SPOOL))


def refs_to_json(refs: Iterable[SpoolRef]) -> dict[str, dict[str, list[tuple[int, int]]]]:
    """References as {gateway: {token: ranges}}: small enough to keep beside a spooled batch."""
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for r in refs:
        out[r.gateway][str(r.token)].append(r.id)
    return {gw: {tok: id_ranges(ids) for tok, ids in toks.items()} for gw, toks in out.items()}


def refs_from_json(doc: Mapping[str, Mapping[str, list[list[int]]]]) -> list[SpoolRef]:
    refs = []
    for gw, toks in doc.items():
        for tok, ranges in toks.items():
            refs.extend(SpoolRef(gw, int(tok), i) for i in ids_of([(a, b) for a, b in ranges]))
    return refs


class Confirmer:
    """Collects the references of stored and held messages and publishes them per gateway."""

    def __init__(self, mqtt: MqttConnection, instance: str) -> None:
        self.mqtt = mqtt
        self.instance = instance
        self._stored: dict[Key, list[int]] = defaultdict(list)
        self._held: dict[Key, list[int]] = defaultdict(list)
        self._recent: OrderedDict[SpoolRef, None] = OrderedDict()
        self.sent = 0  # confirmation messages published
        self.confirmed = 0  # message references confirmed stored
        self.duplicates = 0  # references stored before by this collector: re-sends storage absorbed

    def stored(self, refs: Iterable[SpoolRef]) -> None:
        for r in refs:
            self._stored[(r.gateway, r.token)].append(r.id)
            if r in self._recent:
                self.duplicates += 1
                self._recent.move_to_end(r)
            else:
                self._recent[r] = None
                if len(self._recent) > RECENT_MAX:
                    self._recent.popitem(last=False)
            self.confirmed += 1

    def held(self, refs: Iterable[SpoolRef]) -> None:
        for r in refs:
            self._held[(r.gateway, r.token)].append(r.id)

    def flush(self) -> None:
        """Publish what was collected since the last flush: one message per gateway and spool."""
        keys = set(self._stored) | set(self._held)
        for gateway, token in sorted(keys):
            msg = Confirm(
                v=1,
                token=token,
                by=self.instance,
                stored=id_ranges(self._stored.get((gateway, token), ())),
                held=id_ranges(self._held.get((gateway, token), ())),
            )
            try:
                self.mqtt.publish_nowait(confirm_topic(gateway), encode_confirm(msg), qos=1)
            except MqttError as exc:  # the gateway sends again when no confirmation comes
                log.warning(
                    _(
                        "could not confirm to gateway {gateway!r} ({reason}); "
                        "it will send those messages again"
                    ).format(gateway=gateway, reason=exc)
                )
                continue
            self.sent += 1
        self._stored.clear()
        self._held.clear()
