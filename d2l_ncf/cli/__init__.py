"""The command line: ``d2l-ncf train`` (also ``python -m d2l_ncf``).

Only what parsing needs is imported up front: ``--help`` and usage
errors never wait for MXNet and d2l, which the commands import when they
run (after `stopping_signals` is in force, so Ctrl-C there is a stop).
"""
import os
import signal
import sys

from ..runs.compare import main_compare
from ..runtime import numerics
from ..runtime.pipes import guard_std_streams, leave
from ..runtime.stopping import RunStopped, stop_at_safe_points
from .commands import main_recommend, main_run
from .launch import main as launch_main
from .parser import build_parser


def program():
    """The ``d2l-ncf`` command: `main` on sys.argv, then a quick exit
    (`pipes.leave`). Help and usage errors end in SystemExit: they leave
    through `leave` too, so output lost to a full disk is an error."""
    try:
        code = main()
    except SystemExit as done:
        code = done.code
    return leave(code)


def main(argv=None):
    try:
        return _main(argv)
    except KeyboardInterrupt as err:  # e.g. while MXNet is imported
        return stopped(getattr(err, 'signum', signal.SIGINT))
    except ImportError as err:
        if type(err).__name__ != 'MXNetMissingError':
            raise
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 1


def stopped(signum, message=None):
    """Say a signal stopped the command, in one line; its exit code."""
    print(f'd2l-ncf: {message or "stopped by " + signal.Signals(signum).name}',
          file=sys.stderr)
    return 128 + signum


def _main(argv):
    parser = build_parser()
    as_program = argv is None
    if as_program:  # `| head -1`: a closed pipe is no error of the run
        guard_std_streams()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['launch']:
        return launch_main(argv[1:])
    args = parser.parse_args(argv)
    wanted = getattr(args, 'numerics', None)
    if wanted and wanted != numerics.mode():
        if not as_program:
            parser.error(
                f'--numerics {wanted}: this process already runs MXNet in '
                f'{numerics.mode()} mode; set {numerics.ENV}={wanted} '
                f'before it starts')
        # MXNet reads these settings when it loads: start again with them
        sys.stdout.flush()
        sys.stderr.flush()
        # from the user's environment, not the one portable mode set
        os.execve(sys.executable, [sys.executable, '-m', 'd2l_ncf'] + argv,
                  dict(numerics.users_environment(),
                       **{numerics.ENV: wanted}))
    if args.command == 'compare':
        return main_compare(args.run, args.reference, args.rtol, args.atol,
                            args.metrics)
    with stopping_signals():  # MXNet loads inside: a signal is a stop
        if args.command == 'recommend':
            return main_recommend(args)
        try:
            return main_run(args, argv, parser)
        except RunStopped as err:
            return stopped(err.signum, str(err))


def stopping_signals():
    """SIGINT and SIGTERM stop a run at its next safe point (`stopping`);
    a second one ends the process at once."""
    return stop_at_safe_points()


if __name__ == '__main__':
    sys.exit(main())
