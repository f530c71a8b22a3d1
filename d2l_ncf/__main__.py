"""``python -m d2l_ncf`` and the ``d2l-ncf`` script: the command line,
with Ctrl-C while it loads noted, not raised inside an import (where a
C extension may turn it into an ImportError, and Python would print a
traceback)."""
import sys

from .runtime.stopping import requested, stop_at_safe_points


def main():
    """Load the command line under a signal guard, then run it."""
    with stop_at_safe_points():
        from .cli import program, stopped
        early = requested()
    if early:
        return stopped(early)
    return program()


if __name__ == '__main__':
    sys.exit(main())
