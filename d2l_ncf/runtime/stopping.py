"""Stopping on SIGINT and SIGTERM at safe points only.

The handler raises nothing: it notes the signal and puts back the default
handling, so a second signal ends the process at once. The loops call
`check` where stopping leaves nothing half-done (between batches, epochs,
evaluation chunks, data files). An exception raised from inside the
handler could land in MXNet's code, be swallowed there, and leave a run
that no signal stops any more.
"""
import contextlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested = []  # the signal numbers noted, first first


class Stopped(KeyboardInterrupt):
    """A noted signal, raised at a safe point."""

    def __init__(self, signum=signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


class RunStopped(Exception):
    """A run stopped by signal `signum`; the message says where and what
    is saved."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum = signum


def request(signum, frame=None):
    _requested.append(signum)
    for s in SIGNALS:
        signal.signal(s, signal.SIG_DFL)


def requested():
    """The first signal noted, or None."""
    return _requested[0] if _requested else None


def check():
    if _requested:
        raise Stopped(_requested[0])


@contextlib.contextmanager
def stop_at_safe_points():
    """Within the block, SIGINT and SIGTERM are only noted (`request`);
    afterwards the old handlers, and nothing noted."""
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
