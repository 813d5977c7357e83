"""The package version; kept equal to ``package.json`` by ``tests/test_versions.py``."""

__version__ = "0.1.0"
