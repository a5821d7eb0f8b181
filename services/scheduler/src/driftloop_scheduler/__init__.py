"""Starts experiments and runs their ask/tell model search."""
