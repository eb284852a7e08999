"""Event contracts: Avro `.avsc` files (the source of truth) and the pydantic models that mirror them.

Imports nothing from the rest of mfgsync; everything else may import it.
"""

if __name__ != "mfgsync.schemas":  # the folder is on sys.path (repository root): not our package name
    msg = "import mfgsync.schemas, not schemas: this folder installs as part of the mfgsync package"
    raise ImportError(msg)
