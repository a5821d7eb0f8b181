"""The model-serving HTTP endpoint; hot-swaps promoted models."""
