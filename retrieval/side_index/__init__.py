"""The side index: what newsbot keeps beside Chroma to rank chunks by BM25 and to run dense
searches restricted by a filter, derived from Chroma (the source of truth) and kept equal
to it.

- `articles`: what it keeps of an article (terms, int8 vectors, filter metadata);
- `table`: the slot table that scoring, vectors and filters share;
- `bm25`: postings and BM25 scoring;
- `vectors`: int8 chunk vectors and the dense scan over them;
- `filters`: filter masks over the slots, and the counts read through them;
- `memory`: the whole in memory, its parts written together;
- `persisted`: snapshot + journal on disk, catching up with other processes, repair.
"""
