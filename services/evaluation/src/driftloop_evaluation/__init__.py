"""Compares candidates with the champion and decides promotions."""
