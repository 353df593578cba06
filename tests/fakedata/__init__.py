"""Fake-data writers: each writes one source family's *native* files into a temp dir and
returns what the parsers must produce (``expected``: split -> list of expected records)."""
