"""Reconcile a clinic's video-consultation schedule, kept as YAML in git, with the live APIs."""

__version__ = "0.1.0.dev0"

import logging as _logging

# Library code never prints (STYLE.md §10): without this, Python's last-resort handler
# would print the clients' retry warnings to stderr. `reconciler -v` adds a real handler.
_logging.getLogger("reconciler").addHandler(_logging.NullHandler())
