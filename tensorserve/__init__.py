"""tensorserve: a Redis-protocol server that keeps tensors, models and scripts next to data."""

__version__ = "0.1.0"
__all__ = ["__version__"]
