"""Shared ground: errors, atomic file writes, settings, provenance."""
