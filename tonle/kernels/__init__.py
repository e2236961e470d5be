"""Pure numpy kernels shared by the edge, the analytics and the simulator.

Vibration features, envelope evidence at bearing defect frequencies, the bearing and
machine-type catalogue and the shift calendar: arrays in, arrays out, no I/O, and no
scipy (a gateway runs them).
"""
