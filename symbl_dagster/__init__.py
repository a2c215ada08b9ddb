"""Symbl.ai conversation intelligence as Dagster assets."""

__version__ = "0.1.0"
