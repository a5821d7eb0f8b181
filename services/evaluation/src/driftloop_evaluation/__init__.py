"""Compares candidates with the champion and decides promotions."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
