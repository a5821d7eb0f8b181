"""Starts experiments and runs their ask/tell model search."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
