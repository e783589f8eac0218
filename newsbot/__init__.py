"""The `newsbot` command line: the entry point that wires settings and services."""
