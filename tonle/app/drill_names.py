"""The names of the demo's fault drills: one list for the command line and the drills themselves.

Kept apart from `demo_drills` so `tonle agent` on a gateway does not load the demo to print its help.
"""

DRILLS = (
    "broker-outage",
    "broker-crash",
    "broker-disk-lost",
    "power-cut",
    "agent-crash",
    "db-outage",
    "collector-crash",
    "intruder",
    "opcua-restart",
)
