"""The index and the search that answers questions with verified quotes.

This is the lowest layer: it imports neither `ingest` nor `bot`.
"""
