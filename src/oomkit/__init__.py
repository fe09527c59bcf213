"""oomkit: explain, predict and prevent Linux OOM kills."""

__version__ = "0.1.0"
