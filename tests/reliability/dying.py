"""`reconciler`, killed with SIGKILL by itself inside its Nth journal write: after the
write's statement ran and before its transaction committed. A kill from outside cannot
be aimed that finely; this one lands there every time.

    python -m tests.reliability.dying intent|outcome N ARGUMENTS...

`intent` is the entry written before a call (`journal.begin`); `outcome` the update that
settles it after the call, in the same transaction as the record it writes
(`journal.end`). The process says where it dies on stderr first.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from reconciler import cli
from reconciler.inventory import journal

WRITES = {"intent": "begin", "outcome": "end"}


def dying_at(write: Callable[..., Any], which: str, nth: int) -> Callable[..., Any]:
    calls = 0

    def writing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = write(*args, **kwargs)
        calls += 1
        if calls == nth:
            print(f"dying inside journal write: {which} #{nth}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    return writing


def main() -> None:
    which, nth, *arguments = sys.argv[1:]
    name = WRITES[which]
    setattr(journal, name, dying_at(getattr(journal, name), which, int(nth)))
    sys.argv = ["reconciler", *arguments]
    cli.entry()


if __name__ == "__main__":
    main()
