"""Aftercare: a discreet post-operative recovery companion."""

__version__ = "0.1.0"
