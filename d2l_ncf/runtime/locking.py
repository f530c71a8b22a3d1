"""One writer at a time, and never half a file.

`SaveLock` lets one run at a time save into a folder; `hold_folder`
lets one run at a time write a folder of results (--out);
`deferred_signals` holds SIGINT and SIGTERM back while a file is
written, so a stop never leaves one half-written. Imports nothing of the
package.
"""
import contextlib
import errno
import fcntl
import hashlib
import os
import signal
import tempfile
import threading

LOCK = 'd2l_ncf.lock'


class FolderBusyError(ValueError):
    """Another run is saving into the same folder."""


def held(folder):
    """Does this process hold the save lock of `folder`?"""
    return os.path.abspath(folder) in HELD


class SaveLock:
    """One run at a time saves into `folder`: an exclusive ``flock`` on
    ``folder/d2l_ncf.lock``, which holds the owner's pid. The kernel
    drops the lock when its process dies, so a killed run blocks nobody.
    Creates `folder` if needed and removes it again if it stays empty."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        self.path = os.path.join(self.folder, LOCK)
        self.fd, self.created = None, False

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def acquire(self):
        if not os.path.isdir(self.folder):
            os.makedirs(self.folder)
            self.created = True
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                owner = os.pread(fd, 32, 0).decode(errors='replace').strip()
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                raise FolderBusyError(
                    f'{self.folder} is being saved into by another run '
                    f'(pid {owner or "unknown"}, see {LOCK}); wait for it '
                    f'to finish or choose another folder') from None
            try:  # the file we locked may have been removed meanwhile
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        self.fd = fd
        HELD[self.folder] = self

    def release(self):
        if self.fd is None:
            return
        HELD.pop(self.folder, None)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None
        if self.created:
            with contextlib.suppress(OSError):  # only if still empty
                os.rmdir(self.folder)


HELD = {}


class FolderInUseError(FolderBusyError):
    """Another run writes its results into the same folder."""


def hold_folder(folder, option='--out'):
    """Make this process the one writer of results folder `folder`
    until `release_folder` or until it ends: an exclusive ``flock`` that
    the kernel drops when the process dies, however it dies. The lock
    file is not in `folder` (which may not exist yet, and which a
    stopped run must leave as it was) but in a private folder of the
    temporary directory, named by `folder`'s resolved path; it holds the
    owner's pid and `folder`. Holding it again in the same process does
    nothing. Raises `FolderInUseError` if another process holds it."""
    key = os.path.realpath(folder)
    if key in WRITERS:
        return
    home = os.path.join(tempfile.gettempdir(), f'd2l_ncf-locks-{os.getuid()}')
    path = os.path.join(home, hashlib.sha256(key.encode(
        'utf-8', 'surrogateescape')).hexdigest()[:32] + '.lock')
    try:
        os.makedirs(home, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise FolderBusyError(
            f'{option} {folder}: cannot make the lock that keeps a second '
            f'run out of it ({path}: {err.strerror or err}); set TMPDIR to '
            f'a folder you can write') from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        owner = os.pread(fd, 32, 0).decode(errors='replace').split('\n')[0]
        os.close(fd)
        if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        raise FolderInUseError(
            f'{option} {folder} is being written by another run (pid '
            f'{owner.strip() or "unknown"}); two runs into one folder would '
            f'replace each other\'s results: wait for it to finish or '
            f'choose another folder') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}\n{key}\n'.encode(
        'utf-8', 'surrogateescape'), 0)
    WRITERS[key] = fd


def release_folder(folder):
    """Let other runs write `folder` again (see `hold_folder`)."""
    fd = WRITERS.pop(os.path.realpath(folder), None)
    if fd is not None:
        os.close(fd)  # the flock goes with the last descriptor


WRITERS = {}  # resolved folder -> descriptor of its held lock file


@contextlib.contextmanager
def deferred_signals(signums=(signal.SIGINT, signal.SIGTERM)):
    """Hold SIGINT and SIGTERM back while the block runs, then deliver
    them: a save or an output file is never left half-written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught, previous = [], {}

    def note(signum, frame):
        caught.append(signum)
    for s in signums:
        previous[s] = signal.signal(s, note)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(caught):
            handler = previous[s]
            if callable(handler):
                handler(s, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), s)


def pid_alive(pid):
    """Is process `pid` running (and not this one)?"""
    if pid == os.getpid():
        return False  # our own earlier, failed save
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
