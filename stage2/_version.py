"""The library version, in a module of its own so that subpackages can read it without importing
the package's public namespace (no upward import)."""

__version__ = "0.1.0"
