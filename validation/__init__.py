"""Studies of the analytics methods on public data (not installed, never imported at run time).

Tests and `bench/pdm_validation.py` pass the data directory in; the runtime packages
never read `tests/data`.
"""
