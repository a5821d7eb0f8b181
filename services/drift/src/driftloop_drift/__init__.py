"""Watches ingested data and the model's errors for concept drift."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
