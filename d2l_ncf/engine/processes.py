"""A launched job's processes, watched together: each one's output
relayed with its name, the first failure (or a signal) stopping them all,
SIGTERM then SIGKILL after a grace period, and no child outliving the
launcher (Linux's parent-death signal).
"""
import os
import signal
import subprocess
import sys
import threading
import time

from .distributed import PR_SET_PDEATHSIG, parent_death_signal

WAIT_AFTER_WORKERS = 30  # seconds the servers get to stop by themselves
GRACE = 5  # seconds between SIGTERM and SIGKILL when stopping


class Job:
    """The started processes, their output threads and their fate."""

    def __init__(self):
        self.procs, self.threads = [], []

    def start(self, role, rank, argv, env):
        name = 'scheduler' if role == 'scheduler' else f'{role} {rank}'
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, errors='replace',
            start_new_session=True,  # its own process group
            preexec_fn=die_with(os.getpid()))
        self.procs.append((name, role, proc))
        for pipe, sink in ((proc.stdout, sys.stdout),
                           (proc.stderr, sys.stderr)):
            t = threading.Thread(target=relay, args=(pipe, sink, name),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def watch(self, poll=0.1):
        """Wait for the workers, then the servers; (exit code, message)."""
        early = {}  # server or scheduler -> when it was seen stopped
        while True:
            workers_done = True
            for name, role, proc in self.procs:
                code = proc.poll()
                if code is None:
                    workers_done &= role != 'worker'
                elif code != 0:
                    return exit_code(code), f'{name} {describe(code)}'
                elif role != 'worker' and not self.workers_finished():
                    # the workers may be just exiting: give them a moment
                    early.setdefault(name, time.monotonic())
                    if time.monotonic() - early[name] > GRACE:
                        return 1, (f'{name} stopped before the workers '
                                   f'finished')
            if workers_done:
                return self.wait_servers()
            time.sleep(poll)

    def workers_finished(self):
        return all(p.poll() == 0 for _, role, p in self.procs
                   if role == 'worker')

    def wait_servers(self):
        deadline = time.monotonic() + WAIT_AFTER_WORKERS
        for name, _, proc in self.procs:
            try:
                code = proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return 1, f'{name} did not stop after the workers finished'
            if code != 0:
                return exit_code(code), f'{name} {describe(code)}'
        return 0, None

    def stop(self):
        """SIGTERM every process group we started, then SIGKILL."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = [p for _, _, p in self.procs if p.poll() is None]
            for proc in alive:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + GRACE
            for proc in alive:
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for _, _, proc in self.procs:  # and what they may have left
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for t in self.threads:
            t.join(timeout=2)


def die_with(launcher):
    """For a child of `launcher`, before it runs its program: Linux kills
    it when the launcher dies, even by SIGKILL, from its first
    instruction on (a worker also asks this itself, but only once MXNet
    and its data have loaded); if the launcher is already gone, exit."""
    prctl = parent_death_signal()  # looked up before the fork
    def prepare():
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != launcher:
            os._exit(1)
    return prepare


def relay(pipe, sink, name):
    for line in pipe:
        sink.write(f'[{name}] {line}')
        sink.flush()


def describe(code):
    if code < 0:
        return f'was killed by {signal.Signals(-code).name}'
    return f'exited with code {code}'


def exit_code(code):
    return 128 - code if code < 0 else code
