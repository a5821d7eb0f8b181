"""The model-serving HTTP endpoint; hot-swaps promoted models."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
