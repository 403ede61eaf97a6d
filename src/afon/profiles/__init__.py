"""Profiles: custom functions of the body, stored as TOML (see profile.py)."""
