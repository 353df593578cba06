"""One small parser per source family: native files -> canonical records (SPEC §6).

Each module follows the family protocol described in :mod:`sa2va_hf.data.catalog` and ends
with its ``SOURCES`` table. Shared helpers live in the ``_``-prefixed modules: ``_json``
(streaming JSON arrays, sharding), ``_fields`` (typed field access), ``_images`` (image lookup
and header checks). Nothing here imports ``datasets``.
"""
