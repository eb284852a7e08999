"""Bytewax dataflow wiring and the `mfgsync` command line.

Composes `schemas`, `operators` and `connectors`; nothing imports `flows`.
"""
