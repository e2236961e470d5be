"""Studies of the analytics methods on public data (not installed, never imported at run time).

One module per data set, each a loader that takes the data directory and evaluations
that take arrays and return figures:

    validation.cwru      envelope diagnosis on CWRU bearing windows
    validation.ims       baseline, health index and drift alarm on the IMS run
    validation.cmapss    RUL from a fused health index on C-MAPSS FD001 (fit_cmapss, predict)
    validation.ai4i      failure-mode rules on AI4I 2020 (the rules: validation.pdm_process)
    validation.pdm       the report of every figure: python -m validation.pdm --data DIR
    validation.files     finding the data files (DataNotFound when they are not there)

The data directory is always passed in: the tests pass their copies in `tests/data`, the
command line and `bench/pdm_validation.py` take `--data`. Nothing here has a default
that points at the repository's test data.
"""
