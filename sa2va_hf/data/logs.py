"""Other libraries' log messages that say nothing to our users, dropped where we know they are noise."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

__all__ = ["without_messages"]


@contextlib.contextmanager
def without_messages(logger_name: str, *starts: str) -> Iterator[None]:
    """While the block runs, drop the records of the logger ``logger_name`` whose message starts with one
    of ``starts``; every other message of that logger (and of any other) passes."""

    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(starts)

    logger = logging.getLogger(logger_name)
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)
