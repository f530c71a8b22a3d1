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

from .distributed import RANK_ENV
from .processes import Job

LOOPBACK = '127.0.0.1'
# A server or scheduler serves at import, then exits. First it asks Linux
# to kill it when its parent dies, as workers do (`distributed.
# die_with_parent`; prctl option 1 is PR_SET_PDEATHSIG).
SERVER_CODE = ('import ctypes, signal; ctypes.CDLL(None).prctl(1, '
               'signal.SIGKILL); import mxnet')
# The most workers and servers one job may start. Each is a Python process
# with MXNet loaded (about 200 MB and a few threads): far beyond the
# machines' cores the job only stalls them, and a typo (--workers 100000)
# would start processes until the machine stops answering.
MAX_WORKERS, MAX_SERVERS = 256, 64


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


def run(workers, servers, command, port=None, hosts=None,
        python=sys.executable, ssh='ssh'):
    """Start and watch the job; return its exit code."""
    if workers < 1:
        raise LaunchError(f'--workers {workers}: expected at least 1')
    if servers < 1:
        raise LaunchError(f'--servers {servers}: expected at least 1')
    for name, count, most in (('workers', workers, MAX_WORKERS),
                              ('servers', servers, MAX_SERVERS)):
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
