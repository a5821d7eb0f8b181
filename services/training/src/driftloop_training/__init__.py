"""Runs trials: fits one model configuration on a snapshot, deterministically."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
