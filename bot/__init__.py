"""The Discord layer. Imports `ingest` and `retrieval`."""
