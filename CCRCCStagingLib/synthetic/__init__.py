"""Synthetic data: CT phantoms, expression phantoms, the sample case."""
