"""Output into a pipe that closed early (``d2l-ncf train ... | head -1``).

Python ignores SIGPIPE, so writing into a pipe whose reader has gone
raises `BrokenPipeError` (and into a full device `OSError`), possibly
long after the line was printed (a pipe's output is buffered until
exit). `guard_std_streams` makes that no traceback: the stream's file
descriptor is pointed at the null device and the run goes on, writing
its files. A closed pipe keeps the usual exit code; output lost any
other way (a full disk) makes `leave` say so and exit 1.
"""
import atexit
import os
import sys


class PipeGuard:
    """A text stream whose writes and flushes into a closed pipe go to
    the null device instead of raising."""

    def __init__(self, stream):
        self._stream, self.broken, self.error = stream, False, None

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as err:  # a closed pipe, a full disk (/dev/full)
            self._failed(err)
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except OSError as err:
            self._failed(err)

    def _failed(self, err):
        """A reader that left is no error; any other failed write (a full
        disk) is kept, for `leave` to report."""
        if not isinstance(err, BrokenPipeError) and self.error is None:
            self.error = err
        self._to_null()

    def _to_null(self):
        self.broken = True
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, self._stream.fileno())
        finally:
            os.close(null)
        try:  # what stayed in the buffer now goes to the null device
            self._stream.flush()
        except OSError:
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def guard_std_streams():
    """Guard sys.stdout and sys.stderr (once) and flush them through the
    guard at exit, before Python's own last flush could raise."""
    for name in ('stdout', 'stderr'):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, PipeGuard):
            guard = PipeGuard(stream)
            setattr(sys, name, guard)
            atexit.register(guard.flush)


def leave(code):
    """End the program now with exit status `code`.

    The standard streams are flushed first (through their guards), then
    the interpreter's teardown is skipped: unloading MXNet, pandas and
    matplotlib takes about 0.3 s and does nothing a finished command
    needs (its files are written and closed). Teardown still runs, by a
    normal exit, when something may need it: a child process or another
    non-daemon thread still alive, or a process of a distributed job
    (MXNet's exit barrier and the servers' stop run at teardown).
    """
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):  # unguarded and closed: as Python
                return code
    lost = [(name, getattr(sys, name).error) for name in ('stdout', 'stderr')
            if getattr(getattr(sys, name), 'error', None) is not None]
    if lost and not code:  # the output is gone: not a success
        for name, err in lost:
            print(f'd2l-ncf: error: writing to {name} failed ('
                  f'{err.strerror or err}); output was lost',
                  file=sys.stderr)
        sys.stderr.flush()
        code = 1
    if needs_teardown() or not isinstance(code, (int, type(None))):
        return code  # e.g. a message for sys.exit to print
    os._exit(code or 0)


def needs_teardown():
    """Whether a normal exit must clean something up (see `leave`)."""
    import threading
    if os.environ.get('DMLC_ROLE'):
        return True
    if any(t.is_alive() and not t.daemon
           for t in threading.enumerate() if t is not threading.main_thread()):
        return True
    mp = sys.modules.get('multiprocessing')
    return bool(mp is not None and mp.active_children())
