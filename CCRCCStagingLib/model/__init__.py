"""The deployable model folder: read, verify, predict — NumPy only."""
