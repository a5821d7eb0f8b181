"""Watches ingested data and the model's errors for concept drift."""
