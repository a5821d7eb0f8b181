"""Runs trials: fits one model configuration on a snapshot, deterministically."""
