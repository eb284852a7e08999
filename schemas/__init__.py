"""Event contracts: Avro `.avsc` files (the source of truth) and the pydantic models that mirror them.

Imports nothing from the rest of mfgsync; everything else may import it.
"""
