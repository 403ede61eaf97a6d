"""Tuning AF strategies for a lens: Optuna studies over declared tunables, evaluated on Dask.

See docs/tuning.md. `afon.tune.params` (what may be tuned, tuning files), `afon.tune.objective`
(what is minimised), `afon.tune.study` (the study, resume, hold-out comparison),
`afon.tune.executor` (Dask), `afon.tune.export` (libcamera's rpi.af format),
`afon.tune.command` (``afon tune``).
"""
