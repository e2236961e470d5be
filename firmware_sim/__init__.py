"""Simulated firmware: a seeded, deterministic garment sewing line to run Tonle against.

- `tonle.io.clock`: wall and virtual clocks (tests and fast demos never sleep).
- `firmware_sim.spec`: stations and lines, and `default_line()` calibrated on real
  garment-team data.
- `firmware_sim.line`: `SewingLine`, the time-stepped line (production, states,
  wear, telemetry, commands); `motor`, `vibration`, `states` and `output` hold
  its parts.

Import the submodule you need; this package imports nothing heavy itself, so
`from tonle.io.clock import VirtualClock` stays cheap.
"""
