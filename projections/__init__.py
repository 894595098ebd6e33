"""Read models: the projection contract and the built-in projections."""
