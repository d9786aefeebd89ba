"""silkctl: a CNI-compatible L3 overlay for containers."""

__version__ = "0.1.0"
