"""Reconcile a clinic's video-consultation schedule, kept as YAML in git, with the live APIs."""

__version__ = "0.1.0.dev0"
