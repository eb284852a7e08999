"""Sources, sinks and serde: how records get in and out of mfgsync.

JSON Lines files (`files`, `jsonl`), Kafka and Avro (`kafka`, `avro`), metrics and alerting
channels. May import `schemas`; never `operators` or `flows`.
"""
