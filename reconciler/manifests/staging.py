"""A set of files that appears whole or not at all: `reconciler import --generate`
writes its manifests under temporary names, records the sessions, then moves them into
place, so a failure on the way leaves neither stray manifests nor stray records."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


class Staged:
    """Files written under temporary names beside their targets: `commit` moves them
    into place, `discard` removes them. Temporary names start with `.`, so no load of
    the folder meanwhile reads them as manifests."""

    def __init__(self, files: Mapping[Path, str]) -> None:
        self._moves: list[tuple[Path, Path]] = []
        try:
            for target, text in files.items():
                handle, temporary = tempfile.mkstemp(
                    dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
                )
                self._moves.append((Path(temporary), target))
                os.chmod(temporary, 0o644)  # a manifest, not a secret (mkstemp makes 0600)
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    stream.write(text)
        except BaseException:
            self.discard()
            raise

    def commit(self) -> None:
        """Move every file into place."""
        for temporary, target in self._moves:
            os.replace(temporary, target)
        self._moves = []

    def discard(self) -> None:
        """Remove the files not moved into place."""
        for temporary, _ in self._moves:
            temporary.unlink(missing_ok=True)
        self._moves = []
