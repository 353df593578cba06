"""The data side: every Sa2VA source as ``datasets`` records in one canonical schema.

* :mod:`.schema` -- the canonical record (SPEC §6) and its invariants;
* :mod:`.safety` -- the restricted unpickler and path joining for untrusted annotations;
* :mod:`.catalog` -- every source, once (:class:`SourceSpec`), discovered from :mod:`.sources`;
* :mod:`.sources` -- one parser per family: native files -> records (no ``datasets`` there);
* :mod:`.builder` -- one ``datasets`` builder for every source;
* :mod:`.loading` -- :func:`load_source` / :func:`get_builder`.

Records do not depend on a model: nothing here imports the processor.
"""

from .catalog import SourceSpec, get_spec, list_sources
from .loading import get_builder, load_source

__all__ = ["SourceSpec", "get_builder", "get_spec", "list_sources", "load_source"]
