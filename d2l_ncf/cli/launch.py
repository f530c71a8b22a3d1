"""``d2l-ncf launch``: its options, and the command after ``--``.

It starts a parameter-server job on this machine (loopback) or on the
hosts of ``--hosts FILE`` through ssh, and watches it: one scheduler, S
servers and W workers (`engine.launcher` plans, starts and stops them;
its exit code is the first failure's).
"""
import argparse
import sys

from ..engine.launcher import (  # noqa: F401  (the job's names)
    MAX_SERVERS, MAX_WORKERS, SERVER_CODE, LaunchError, check_command,
    free_port, plan, read_hosts, remote_command, run)

DESCRIPTION = ('Start a scheduler, servers and workers for a distributed '
               'train command (MXNet parameter server) and watch them: '
               'd2l-ncf launch --workers 2 --servers 1 -- train --kvstore '
               'dist_sync ...')


def build_parser():
    p = argparse.ArgumentParser(prog='d2l-ncf launch', allow_abbrev=False,
                                description=DESCRIPTION)
    add_launch_options(p)
    return p


def add_launch_options(p):
    """The launcher's own options (before the ``--``)."""
    p.add_argument('--workers', type=int, required=True,
                   help=f'worker processes (1 <= W <= {MAX_WORKERS})')
    p.add_argument('--servers', type=int, default=1,
                   help=f'server processes (1 to {MAX_SERVERS}; default: '
                        f'%(default)s)')
    p.add_argument('--port', type=int, default=None,
                   help="the scheduler's port (default: a free one)")
    p.add_argument('--hosts', default=None, metavar='FILE',
                   help='one host name per line: start the processes on '
                        'them through ssh (scheduler on the first)')
    p.add_argument('--python', default=sys.executable,
                   help='the Python that runs each process '
                        '(default: this one)')
    p.add_argument('--ssh', default='ssh',
                   help='the ssh program for --hosts (default: ssh)')


def split_command(argv):
    """(launcher options, train command) from argv split at ``--``."""
    if '--' not in argv and ('-h' in argv or '--help' in argv):
        return argv, []  # argparse prints the help
    if '--' not in argv:
        raise LaunchError("missing '--' before the train command, e.g. "
                          "d2l-ncf launch --workers 2 -- train --kvstore "
                          "dist_sync ...")
    cut = argv.index('--')
    return argv[:cut], argv[cut + 1:]


def main(argv):
    parser = build_parser()
    try:
        options, command = split_command(list(argv))
        args = parser.parse_args(options)
        return run(args.workers, args.servers, command, args.port,
                   args.hosts, args.python, args.ssh)
    except LaunchError as err:
        parser.error(str(err))
