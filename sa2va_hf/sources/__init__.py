"""One small parser per source family: native files -> canonical records (SPEC §6).

Each module exposes ``shards(data_dir, ...)`` (cheap descriptors that split the work so
``datasets`` can build with ``num_proc``) and ``generate(shards, ...)`` yielding
``(key, record)`` pairs. The ``datasets`` builders in :mod:`sa2va_hf.builders` are thin
wrappers over these.
"""
