"""Loading, cleaning, chunking and embedding articles into the index.

Imports `retrieval`, never `bot`.
"""
