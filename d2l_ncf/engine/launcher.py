"""A parameter-server job (`d2l-ncf launch`): one scheduler, S servers
and W workers, told their roles by ``DMLC_*`` (`plan`), here or over ssh
(`remote_command`). A `Job` prefixes each one's output and stops them
all as soon as one fails or on a signal; `run` returns the first
failure's exit code.
"""
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

from .distributed import PR_SET_PDEATHSIG, RANK_ENV, parent_death_signal

LOOPBACK = '127.0.0.1'
# A server or scheduler serves at import, then exits. First it asks Linux
# to kill it when its parent dies, as workers do (`distributed.
# die_with_parent`; prctl option 1 is PR_SET_PDEATHSIG).
SERVER_CODE = ('import ctypes, signal; ctypes.CDLL(None).prctl(1, '
               'signal.SIGKILL); import mxnet')
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


def free_port(host=LOOPBACK):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port(port, host=LOOPBACK):
    if not 1 <= port <= 65535:
        raise LaunchError(f'--port {port}: expected 1 to 65535')
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as err:
            raise LaunchError(f'--port {port} is in use on {host} '
                              f'({err.strerror}); choose another or leave '
                              f'--port out for a free one') from None


def read_hosts(path):
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise LaunchError(f'--hosts {path}: {err.strerror}') from None
    hosts = []
    for number, line in enumerate(lines, 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        if len(line.split()) != 1:
            raise LaunchError(f'{path}, line {number}: expected one host '
                              f'name, got {line!r}')
        hosts.append(line)
    if not hosts:
        raise LaunchError(f'--hosts {path} names no host')
    return hosts


def plan(workers, servers, port, command, python, hosts=None):
    """Every process of the job: (role, rank, host, env, argv) each.

    `env` holds only the job's variables (``DMLC_*`` and our rank)."""
    root = hosts[0] if hosts else LOOPBACK
    common = {'DMLC_PS_ROOT_URI': root, 'DMLC_PS_ROOT_PORT': str(port),
              'DMLC_NUM_SERVER': str(servers),
              'DMLC_NUM_WORKER': str(workers), 'PYTHONUNBUFFERED': '1'}
    roles = ([('scheduler', 0)] + [('server', s) for s in range(servers)]
             + [('worker', w) for w in range(workers)])
    procs = []
    for n, (role, rank) in enumerate(roles):
        host = hosts[n % len(hosts)] if hosts else LOOPBACK
        if role == 'scheduler':
            host = root
        env = dict(common, DMLC_ROLE=role, DMLC_NODE_HOST=host)
        if role == 'worker':
            env[RANK_ENV] = str(rank)
            argv = [python, '-m', 'd2l_ncf'] + list(command)
        else:
            argv = [python, '-c', SERVER_CODE]
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


def run(workers, servers, command, port=None, hosts=None,
        python=sys.executable, ssh='ssh'):
    """Start and watch the job; return its exit code."""
    if workers < 1:
        raise LaunchError(f'--workers {workers}: expected at least 1')
    if servers < 1:
        raise LaunchError(f'--servers {servers}: expected at least 1')
    check_command(command)
    host_list = read_hosts(hosts) if hosts else None
    if not host_list and not (os.path.isfile(python)
                              and os.access(python, os.X_OK)):
        raise LaunchError(
            f'--python {python}: ' + ('not an executable file' if
                                      os.path.exists(python) else
                                      'no such file')
            + '; expected the Python interpreter that has d2l_ncf')
    if port is None:
        port = free_port()
    elif not host_list:
        check_port(port)
    if host_list:
        check_hosts(host_list, ssh)
    job = Job()
    stopped = []

    def on_signal(signum, frame):  # the first stops the watch
        stopped.append(signum)
        if len(stopped) == 1:
            raise KeyboardInterrupt

    def note(signum, frame):  # while stopping: nothing may cut it short
        stopped.append(signum)

    old = {s: signal.signal(s, on_signal)
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for role, rank, host, env, argv in plan(
                workers, servers, port, command, python, host_list):
            if host_list:
                argv = remote_command(env, argv, os.getcwd(), ssh, host)
                env = {}
            job.start(role, rank, argv, dict(os.environ, **env))
        code, message = job.watch()
    except KeyboardInterrupt:
        sig = stopped[0] if stopped else signal.SIGINT
        code, message = 128 + sig, (
            f'stopped by {signal.Signals(sig).name}')
    finally:
        for s in old:
            signal.signal(s, note)
        job.stop()
        for s, handler in old.items():
            signal.signal(s, handler)
    if code:
        print(f'd2l-ncf launch: {message}; stopped the job ({workers} '
              f'workers, {servers} servers)', file=sys.stderr)
    return code
