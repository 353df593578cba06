"""``datasets`` builder classes, one per source family, thin over :mod:`sa2va_hf.sources`.

They live inside the package so an installed wheel can build every source;
``loading_scripts/<family>.py`` in the repository re-export them. ``datasets`` >= 4 no longer
runs loading scripts through ``load_dataset``; use :func:`sa2va_hf.load_source`, or build
programmatically::

    from sa2va_hf.builders import RefCOCOBuilder
    b = RefCOCOBuilder(config_name="refcoco", data_dir="data", cache_dir="cache")
    b.download_and_prepare(num_proc=4)
    ds = b.as_dataset()

Bump a builder's ``VERSION`` whenever its output changes, so caches never serve stale data.
"""

from .describe_anything import DescribeAnythingBuilder
from .gcg import GCGBuilder
from .osprey import OspreyBuilder
from .refcoco import RefCOCOBuilder

__all__ = ["DescribeAnythingBuilder", "GCGBuilder", "OspreyBuilder", "RefCOCOBuilder"]
