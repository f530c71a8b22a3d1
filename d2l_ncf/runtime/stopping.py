"""Stopping on SIGINT and SIGTERM at safe points only.

The command line's handler raises nothing: it notes the signal and puts
back the default handling, so a second signal ends the process at once.
The loops call `check` where stopping leaves nothing half-done (between
batches, between epochs, between evaluation chunks, between data
files); it raises `Stopped` there. An exception raised from inside the
handler could land in MXNet's own code, be swallowed there, and leave a
run that no signal stops any more.
"""
import contextlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested = []  # the signal numbers noted, first first


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised at a safe point after the handler noted
    it."""

    def __init__(self, signum=signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


class RunStopped(Exception):
    """A run stopped by a signal; the message says where and what is
    saved, `exit_code` is 128 + the signal number."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum, self.exit_code = signum, 128 + signum


def request(signum, frame=None):
    """The handler: note `signum`; the next one of either kind kills."""
    _requested.append(signum)
    for s in SIGNALS:
        signal.signal(s, signal.SIG_DFL)


def requested():
    """The first signal noted, or None."""
    return _requested[0] if _requested else None


def check():
    """Raise `Stopped` if a signal was noted: call at safe points."""
    if _requested:
        raise Stopped(_requested[0])


@contextlib.contextmanager
def stop_at_safe_points():
    """While the block runs, SIGINT and SIGTERM only set the flag that
    `check` raises on; afterwards the old handlers and no flag."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    del _requested[:]
    previous = {s: signal.signal(s, request) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        del _requested[:]
