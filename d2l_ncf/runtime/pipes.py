"""Output into a pipe that closed early (``d2l-ncf train ... | head -1``).

Python ignores SIGPIPE, so a write into a pipe whose reader has gone
raises `BrokenPipeError`, possibly long after the line was printed (the
output is buffered until exit). `guard_std_streams` makes that no
traceback: the stream's descriptor is pointed at the null device and the
run goes on, writing its files. A closed pipe keeps the exit code; output
lost any other way (a full disk) makes `leave` say so and exit 1.
"""
import atexit
import os
import sys
import threading


class PipeGuard:
    """A text stream whose failed writes and flushes go to the null
    device instead of raising."""

    def __init__(self, stream):
        self._stream, self.error = stream, None

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
        # a reader that left is no error; a full disk is, for `leave`
        if not isinstance(err, BrokenPipeError) and self.error is None:
            self.error = err
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
    """Guard sys.stdout and sys.stderr (once), flushed through the guard
    at exit, before Python's own last flush could raise."""
    for name in ('stdout', 'stderr'):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, PipeGuard):
            setattr(sys, name, PipeGuard(stream))
            atexit.register(getattr(sys, name).flush)


def leave(code):
    """End the program now with exit status `code`, streams flushed.

    The interpreter's teardown is skipped: unloading MXNet, pandas and
    matplotlib takes about 0.3 s and does nothing a finished command
    needs. It still runs, by a normal exit (`code` returned for
    sys.exit), when something may need it: a child process or another
    non-daemon thread alive, or a process of a distributed job (MXNet's
    exit barrier and the servers' stop run at teardown).
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
    mp = sys.modules.get('multiprocessing')
    threads = [t for t in threading.enumerate()
               if t is not threading.main_thread()]
    if (os.environ.get('DMLC_ROLE')
            or any(t.is_alive() and not t.daemon for t in threads)
            or (mp is not None and mp.active_children())
            or not isinstance(code, (int, type(None)))):
        return code  # e.g. a message for sys.exit to print
    os._exit(code or 0)
