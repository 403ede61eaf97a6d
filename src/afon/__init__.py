"""afon: back-button focus for any camera."""

__version__ = "0.1.0"
