"""The physically based simulated camera."""
