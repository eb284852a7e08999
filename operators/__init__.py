"""Business rules of mfgsync as plain, sans-I/O Python.

Each module is one idea (dedup, sequencing, inventory, BOMs, netting, planning, changelogs).
Classes hold plain, picklable state and turn an input into the records it causes; time and
the planning date are passed in. May import `schemas`; never bytewax, Kafka, HTTP or a clock.
"""

if __name__ != "mfgsync.operators":  # the folder is on sys.path (repository root): not our package name
    msg = "import mfgsync.operators, not operators: this folder installs as part of the mfgsync package"
    raise ImportError(msg)
