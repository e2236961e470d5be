"""Device protocols shared by an adapter and its simulator (serial frames, Modbus registers).

As pymodbus's simulator reuses its real framer, `firmware_sim` speaks the same code the
edge agent reads with, so a simulated device cannot drift from the real protocol.
"""
