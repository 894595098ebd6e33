"""Projections defined outside the ``projections`` package, as a plugin would be."""
