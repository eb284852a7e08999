"""Bytewax dataflow wiring and the `mfgsync` command line.

Composes `schemas`, `operators` and `connectors`; nothing imports `flows`.
"""

if __name__ != "mfgsync.flows":  # the folder is on sys.path (repository root): not our package name
    msg = "import mfgsync.flows, not flows: this folder installs as part of the mfgsync package"
    raise ImportError(msg)
