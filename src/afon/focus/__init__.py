"""The focus engine: focus measures, contrast and phase search, servo and prediction."""
