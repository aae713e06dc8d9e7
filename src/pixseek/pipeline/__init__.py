"""The indexing pipeline: one analysis pass per image, the local and Dask worker pools that run it,
the indexer that diffs folders against the store, and the grouping of faces into people after each batch."""
