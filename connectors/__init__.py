"""Sources, sinks and serde: how records get in and out of mfgsync.

JSON Lines files (`files`, `jsonl`), Kafka and Avro (`kafka`, `avro`), metrics and alerting
channels. May import `schemas`; never `operators` or `flows`.
"""

if __name__ != "mfgsync.connectors":  # the folder is on sys.path (repository root): not our package name
    msg = "import mfgsync.connectors, not connectors: this folder installs as part of the mfgsync package"
    raise ImportError(msg)
