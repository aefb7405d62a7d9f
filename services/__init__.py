"""The stack's own services, each started as ``python -m services.<name>``."""
