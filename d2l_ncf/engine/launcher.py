"""``d2l-ncf launch``: a parameter-server job of one scheduler, S servers
and W workers, told their roles by ``DMLC_*`` (`plan`), here or over ssh
(`remote_command`). `run` relays each one's output with its name and
stops them all (SIGTERM, then SIGKILL after `GRACE`) as soon as one fails
or on a signal; it returns the first failure's exit code. No child
outlives the launcher (Linux's parent-death signal).
"""
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

from .distributed import PR_SET_PDEATHSIG, RANK_ENV, linux_prctl

LOOPBACK = '127.0.0.1'
# A server or scheduler serves at import, then exits. First it asks Linux
# to kill it when its parent dies, as workers do (`distributed.connect`;
# prctl option 1 is PR_SET_PDEATHSIG).
SERVER_CODE = ('import ctypes, signal; ctypes.CDLL(None).prctl(1, '
               'signal.SIGKILL); import mxnet')
# The most workers and servers one job may start. Each is a Python process
# with MXNet loaded (about 200 MB and a few threads): far beyond the
# machines' cores the job only stalls them, and a typo (--workers 100000)
# would start processes until the machine stops answering.
MAX_WORKERS, MAX_SERVERS = 256, 64
WAIT_AFTER_WORKERS = 30  # seconds the servers get to stop by themselves
GRACE = 5  # seconds between SIGTERM and SIGKILL when stopping


class LaunchError(ValueError):
    """Settings that cannot start a job."""


def check_command(command):
    if not command or command[0] != 'train':
        raise LaunchError("the command after '--' must be 'train ...'")
    kinds = [command[i + 1] for i, a in enumerate(command[:-1])
             if a == '--kvstore'] + [a.split('=', 1)[1] for a in command
                                     if a.startswith('--kvstore=')]
    if not kinds or not kinds[-1].startswith('dist_'):
        raise LaunchError("the train command needs --kvstore dist_sync or "
                          "--kvstore dist_async: other kvstores train each "
                          "worker alone")


def free_port(port=None, host=LOOPBACK):
    """`port` if it is free on `host`, else a free one (`port` None)."""
    if port is not None and not 1 <= port <= 65535:
        raise LaunchError(f'--port {port}: expected 1 to 65535')
    with socket.socket() as s:
        try:
            s.bind((host, port or 0))
        except OSError as err:
            raise LaunchError(f'--port {port} is in use on {host} '
                              f'({err.strerror}); choose another or leave '
                              f'--port out for a free one') from None
        return s.getsockname()[1]


def read_hosts(path):
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise LaunchError(f'--hosts {path}: {err.strerror}') from None
    hosts = []
    for number, line in enumerate(lines, 1):
        line = line.split('#', 1)[0].strip()
        if len(line.split()) > 1:
            raise LaunchError(f'{path}, line {number}: expected one host '
                              f'name, got {line!r}')
        hosts += line.split()
    if not hosts:
        raise LaunchError(f'--hosts {path} names no host')
    return hosts


def plan(workers, servers, port, command, python, hosts=None):
    """Every process of the job: (role, rank, host, env, argv) each, `env`
    only the job's variables (``DMLC_*`` and our rank)."""
    hosts = hosts or [LOOPBACK]
    common = {'DMLC_PS_ROOT_URI': hosts[0], 'DMLC_PS_ROOT_PORT': str(port),
              'DMLC_NUM_SERVER': str(servers),
              'DMLC_NUM_WORKER': str(workers), 'PYTHONUNBUFFERED': '1'}
    roles = ([('scheduler', 0)] + [('server', s) for s in range(servers)]
             + [('worker', w) for w in range(workers)])
    procs = []
    for n, (role, rank) in enumerate(roles):
        host = hosts[n % len(hosts)]  # the scheduler (n = 0) on the first
        env = dict(common, DMLC_ROLE=role, DMLC_NODE_HOST=host)
        argv = [python, '-c', SERVER_CODE]
        if role == 'worker':
            env[RANK_ENV] = str(rank)
            argv = [python, '-m', 'd2l_ncf'] + list(command)
        procs.append((role, rank, host, env, argv))
    return procs


def remote_command(env, argv, cwd, ssh='ssh', host=None):
    """The ssh argv that starts one process on `host` in folder `cwd`."""
    line = 'cd {} && env {} {}'.format(
        shlex.quote(cwd),
        ' '.join(f'{k}={shlex.quote(v)}' for k, v in sorted(env.items())),
        ' '.join(shlex.quote(a) for a in argv))
    return [ssh, '-o', 'BatchMode=yes', host, line]


def check_hosts(hosts, ssh):
    """Every host answers ssh, before anything starts."""
    for host in dict.fromkeys(hosts):
        try:
            done = subprocess.run(
                [ssh, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10',
                 host, 'true'], stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise LaunchError(f'host {host} is unreachable: {err}') from None
        if done.returncode != 0:
            raise LaunchError(
                f'host {host} is unreachable through {ssh} (exit '
                f'{done.returncode}: {done.stderr.strip()[:200]})')


def run(workers, servers, command, port=None, hosts=None,
        python=sys.executable, ssh='ssh'):
    """Check the settings, start the job and watch it; its exit code."""
    for name, count, most in (('workers', workers, MAX_WORKERS),
                              ('servers', servers, MAX_SERVERS)):
        if count < 1:
            raise LaunchError(f'--{name} {count}: expected at least 1')
        if count > most:
            raise LaunchError(
                f'--{name} {count}: at most {most} (each is a process with '
                f'MXNet loaded; more would stall the machines, see '
                f'docs/GUARANTEES.md)')
    check_command(command)
    host_list = read_hosts(hosts) if hosts else None
    if not host_list and not (os.path.isfile(python)
                              and os.access(python, os.X_OK)):
        raise LaunchError(
            f'--python {python}: ' + ('not an executable file' if
                                      os.path.exists(python) else
                                      'no such file')
            + '; expected the Python interpreter that has d2l_ncf')
    if host_list:
        check_hosts(host_list, ssh)
    if port is None or not host_list:
        port = free_port(port)
    job, stopped = Job(), []
    old = {s: signal.signal(s, lambda signum, _: stopped.append(signum))
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:  # a signal stops the watch; while stopping, it is only noted
        for role, rank, host, env, argv in plan(
                workers, servers, port, command, python, host_list):
            if host_list:
                argv = remote_command(env, argv, os.getcwd(), ssh, host)
                env = {}
            job.start(role, rank, argv, dict(os.environ, **env))
        code, message = job.watch(stopped)
    finally:
        job.stop()
        for s, handler in old.items():
            signal.signal(s, handler)
    if code:
        print(f'd2l-ncf launch: {message}; stopped the job ({workers} '
              f'workers, {servers} servers)', file=sys.stderr)
    return code


class Job:
    """The started processes, their output threads and their fate."""

    def __init__(self):
        self.procs, self.threads = [], []

    def start(self, role, rank, argv, env):
        name = 'scheduler' if role == 'scheduler' else f'{role} {rank}'
        # In the child, before its program: Linux kills it when the
        # launcher dies, even by SIGKILL, from its first instruction on
        # (over ssh, a worker and SERVER_CODE ask for it themselves); if
        # the launcher is already gone, it exits.
        prctl, launcher = linux_prctl(), os.getpid()  # before the fork

        def prepare():
            if prctl is not None:
                prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != launcher:
                os._exit(1)

        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, errors='replace',
            start_new_session=True, preexec_fn=prepare)  # its own group
        self.procs.append((name, role, proc))
        for pipe, sink in ((proc.stdout, sys.stdout),
                           (proc.stderr, sys.stderr)):
            t = threading.Thread(target=relay, args=(pipe, sink, name),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def watch(self, stopped, poll=0.1):
        """Wait for the workers, then the servers, or for a signal noted
        in `stopped`; (exit code, message). A server or scheduler that
        stops before the workers fails the job `GRACE` seconds later (the
        workers may be just exiting)."""
        early, deadline = {}, None  # early: server -> when seen stopped
        while not stopped:
            now = time.monotonic()
            codes = [(name, role, p.poll()) for name, role, p in self.procs]
            for name, role, code in codes:
                if code:
                    return failure(name, code)
            running = [name for name, _, code in codes if code is None]
            if not running:
                return 0, None
            if all(code == 0 for _, role, code in codes if role == 'worker'):
                deadline = deadline or now + WAIT_AFTER_WORKERS
                if now > deadline:
                    return 1, (f'{running[0]} did not stop after the '
                               f'workers finished')
            for name, role, code in codes:
                if role != 'worker' and code == 0 and deadline is None and (
                        now - early.setdefault(name, now) > GRACE):
                    return 1, f'{name} stopped before the workers finished'
            time.sleep(poll)
        return 128 + stopped[0], (
            f'stopped by {signal.Signals(stopped[0]).name}')

    def stop(self):
        """SIGTERM every process group we started (what a process left
        too), then SIGKILL after `GRACE` seconds."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            deadline = time.monotonic() + GRACE
            for _, _, proc in self.procs:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)
            for _, _, proc in self.procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(0.0, deadline - time.monotonic()))
        for t in self.threads:
            t.join(timeout=2)


def relay(pipe, sink, name):
    for line in pipe:
        sink.write(f'[{name}] {line}')
        sink.flush()


def failure(name, code):
    """(exit code, message) for a process that ended with `code`."""
    if code < 0:
        return 128 - code, (f'{name} was killed by '
                            f'{signal.Signals(-code).name}')
    return code, f'{name} exited with code {code}'
