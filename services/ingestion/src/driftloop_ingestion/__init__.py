"""Validates producers' records, stores them exactly once, dead-letters the rest."""
