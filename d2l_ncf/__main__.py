import sys

from .runtime.stopping import requested, stop_at_safe_points

# Ctrl-C while the command line loads is noted, not raised inside an
# import (where a C extension may turn it into an ImportError).
with stop_at_safe_points():
    from .cli import program, stopped
    early = requested()
if early:
    sys.exit(stopped(early))
sys.exit(program())
