"""Simulated firmware: a seeded, deterministic garment sewing line to run Tonle against.

- `tonle.io.clock`: wall and virtual clocks (tests and fast demos never sleep).
- `firmware_sim.spec`: stations and lines, and `default_line()` calibrated on real
  garment-team data.
- `firmware_sim.line`: `SewingLine`, the time-stepped line (production, states,
  wear, telemetry, commands); `motor`, `vibration`, `states` and `output` hold
  its parts (`floor` holds the per-station state and the time step).
- `firmware_sim.source_config`: the simulated line as a device type (`type = "sim"`),
  registered through the `tonle.sources` entry points; `source` is its Source.
- `sensor_node`, `pty_wire`, `serial_node`: sensor nodes on ptys speaking the serial
  protocol; `modbus_devices`: a press PLC and an energy meter as pymodbus servers.

Import the submodule you need; this package imports nothing heavy itself, so
`from tonle.io.clock import VirtualClock` stays cheap.
"""
