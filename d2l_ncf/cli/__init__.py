"""The command line: ``d2l-ncf train`` (also ``python -m d2l_ncf``).

Only what parsing needs is imported up front: ``--help`` and usage
errors never wait for MXNet and d2l, which the commands import when they
run (after `stopping_signals` is in force, so Ctrl-C there is a stop).
"""
import argparse
import dataclasses
import os
import signal
import sys
import typing

from ..datasets.formats import DataFormatError
from ..engine.distributed import (DEFAULT_KVSTORE, KVSTORES, ClusterError,
                                  check_launched)
from ..protocol import CORRECTED
from ..runs.checks import UsageError
from ..runs.compare import COMPARED, main_compare
from ..runs.config import TrainConfig, config_from_dict, option
from ..runs.questions import EXERCISES, settings_for
from ..runtime import numerics
from ..runtime.pipes import guard_std_streams, leave
from ..runtime.stopping import RunStopped, stop_at_safe_points
from .launch import DESCRIPTION as LAUNCH_DESCRIPTION
from .launch import add_launch_options, main as launch_main

EXERCISE_NAMES = tuple(sorted(EXERCISES))


def bounded(kind, low=None, above=None, below=None):
    """An argparse type: `kind` (int or float) within the bounds given
    (``low <= x``, ``x > above``, ``x < below``)."""
    noun = 'a whole number' if kind is int else 'a number'
    rules = ([f'>= {low:g}'] if low is not None else []) + (
        [f'> {above:g}'] if above is not None else []) + (
        [f'< {below:g}'] if below is not None else [])
    rule = f"{noun} {' and '.join(rules)}"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or (low is not None and not value >= low) or (
                above is not None and not value > above) or (
                below is not None and not value < below):
            raise argparse.ArgumentTypeError(f'expected {rule}, got {text}')
        return value
    parse.__name__ = rule
    return parse


positive_int = bounded(int, 1)
non_negative_float = bounded(float, 0)


def build_parser(suppress=False):
    """The command line; with `suppress`, the run options not typed are
    left out of the namespace (what `--resume` changes)."""
    parser = argparse.ArgumentParser(
        prog='d2l-ncf',
        description="Dive into Deep Learning's NeuMF for personalized "
                    "ranking on MovieLens-100K.")
    sub = parser.add_subparsers(dest='command', required=True)
    # no abbreviated options: --resume needs to see which were typed
    p = sub.add_parser(
        'train', help="train NeuMF with the chapter's settings",
        allow_abbrev=False,
        description="Train NeuMF on MovieLens-100K (seq-aware split, "
                    "implicit feedback) and print the chapter's two result "
                    "lines. Defaults are the chapter's.")
    add_run_options(p, suppress)
    p.add_argument('--out', default=None,
                   help='folder for metrics.json and curves.png')
    p.add_argument('--save', default=None, metavar='DIR',
                   help='write a checkpoint (parameters, optimizer and '
                        'sampler state, config, id mapping) to DIR after '
                        "every epoch; each replaces only the last "
                        "checkpoint's own files (docs/RELIABILITY.md)")
    p.add_argument('--resume', default=None, metavar='DIR',
                   help="continue training from checkpoint DIR with its "
                        "settings; --epochs is the new total")
    p.add_argument('--kvstore', choices=KVSTORES, default=DEFAULT_KVSTORE,
                   help="gluon.Trainer's kvstore; dist_sync and dist_async "
                        "train on a parameter-server job started by "
                        "'d2l-ncf launch' (default: %(default)s, gluon's "
                        "and so the chapter's)")
    # main hands 'launch' to launch.main, which finds the '--'
    la = sub.add_parser(
        'launch', allow_abbrev=False, description=LAUNCH_DESCRIPTION,
        help='start a distributed train job on MXNet parameter servers')
    add_launch_options(la)
    la.add_argument('train_command', nargs=argparse.REMAINDER,
                    help="'--' then the train command")
    r = sub.add_parser(
        'recommend', help="top-k items for a user from a checkpoint",
        description="Print the k items a user has not interacted with "
                    "that a saved NeuMF ranks first, in the data's own "
                    "ids, with titles for MovieLens.")
    r.add_argument('--checkpoint', required=True, metavar='DIR',
                   help='a folder written by d2l-ncf train --save')
    r.add_argument('--user', required=True,
                   help="a user id as in the data file")
    r.add_argument('-k', type=positive_int, default=10,
                   help='how many items (default: %(default)s)')
    r.add_argument('--data-dir', default=None,
                   help='MovieLens folder for titles (default: the one '
                        'the checkpoint was trained from)')
    e = sub.add_parser(
        'exercise', help="run one of the section's exercises",
        description="Train one model per --values entry (and per seed) "
                    "and write exercise.csv, exercise.md and exercise.png "
                    "to --out. Exercises: factors (--values 4 8 16), "
                    "hiddens (--values '10' '10 10' '32 16 8'), optim "
                    "(--values adam:0.01:1e-5 sgd:0.1:0), loss (--values "
                    "bpr hinge). The protocol defaults to corrected here: "
                    "the book's model learns nothing to compare.")
    e.add_argument('exercise', choices=EXERCISE_NAMES)
    e.add_argument('--values', nargs='+', required=True,
                   help='the settings to compare')
    e.add_argument('--seeds', type=int, nargs='+', default=[0],
                   help='seeds per setting (default: 0)')
    e.add_argument('--out', default=None,
                   help='folder for exercise.csv, .md and .png')
    add_run_options(e, suppress)
    e.set_defaults(protocol=CORRECTED.name)  # exercises compare learning
    c = sub.add_parser(
        'compare', help="compare a run's metrics with a reference",
        description="Compare RUN's metrics.json with REFERENCE's, epoch by "
                    "epoch and final. Exit 0 when all values are within "
                    "tolerance (|value - reference| <= atol + rtol * "
                    "|reference|), 1 when any drifts, 2 on unreadable or "
                    "incompatible input. A non-finite value equals the same "
                    "value (NaN = NaN, inf = inf), so a record always equals "
                    "itself. Numerics that differ (CPU kernels, threads) are "
                    "listed first: they explain last-bit drift.")
    c.add_argument('run', help='metrics.json, or a folder holding it')
    c.add_argument('reference', help='metrics.json, or a folder holding it')
    c.add_argument('--rtol', type=non_negative_float, default=0.0,
                   help='relative tolerance (default: %(default)s)')
    c.add_argument('--atol', type=non_negative_float, default=1e-6,
                   help='absolute tolerance (default: %(default)s: a rerun '
                        'on the same machine and versions is identical)')
    c.add_argument('--metrics', nargs='+', default=None,
                   help='which metrics, each of which both records must '
                        'hold (default: every one of '
                        f'{" ".join(COMPARED)} that the reference holds; '
                        'what only the run holds is named, not compared)')
    parser.commands = {'train': p, 'recommend': r, 'exercise': e,
                       'compare': c}  # usage errors name their command
    return parser


def add_run_options(p, suppress=False):
    """The options of one training run, shared by train and exercise: one
    per `TrainConfig` field, from its declaration (`config.setting`).
    With `suppress`, an option not typed is left out of the namespace."""
    for field in dataclasses.fields(TrainConfig):
        p.add_argument(option(field.name), dest=field.name,
                       **option_settings(field, suppress))
    p.add_argument('--overwrite', action='store_true',
                   help='replace an earlier run in --out')
    p.add_argument('--no-progress', action='store_true',
                   help='no progress bars on stderr')
    p.add_argument('--numerics', choices=numerics.MODES, default=None,
                   help="'portable' fixes the CPU arithmetic (oneDNN "
                        "capped at AVX2, one thread) so the same seed gives "
                        "the same bits on any x86-64 CPU with AVX2; "
                        "'native' leaves it to the environment and the CPU, "
                        f"for speed (default: ${numerics.ENV}, else "
                        f"{numerics.DEFAULT_MODE})")


def option_settings(field, suppress=False):
    """argparse's keywords for config field `field`."""
    meta, default = field.metadata, field.default
    kwargs = {'help': meta['help'],
              'default': argparse.SUPPRESS if suppress else default}
    if meta['flag']:
        return dict(kwargs, action='store_true')
    kind = next((t for t in (int, float)
                 if field.type is t or t in typing.get_args(field.type)
                 or typing.get_args(field.type)[:1] == (t,)), None)
    if meta['choices']:
        kwargs['choices'] = meta['choices']
    else:
        kwargs['metavar'] = meta['metavar'] or (
            meta['option'] or field.name).upper()
    if kind is not None and any(meta[b] is not None
                                for b in ('low', 'above', 'below')):
        kwargs['type'] = bounded(kind, meta['low'], meta['above'],
                                 meta['below'])
    elif kind is not None:
        kwargs['type'] = kind
    if isinstance(default, tuple) and meta['parse'] is None:
        kwargs['nargs'] = '+'  # e.g. --hiddens 10 10 10
        if not suppress:
            kwargs['default'] = list(default)
    elif isinstance(default, tuple) and not suppress:
        kwargs['default'] = ','.join(default)  # e.g. --columns
    return kwargs


def config_from_args(args):
    """The `TrainConfig` of parsed arguments (given ones only, if the
    parser suppressed the others)."""
    values = {}
    for field in dataclasses.fields(TrainConfig):
        if not hasattr(args, field.name):
            continue
        value = getattr(args, field.name)
        parse = field.metadata['parse']
        if parse is not None:
            value = parse(value)
        elif isinstance(field.default, tuple):
            value = tuple(value)
        values[field.name] = value
    return values


def resumed_config(args, typed):
    """The checkpoint's settings, with the options typed on top."""
    from ..runs.checkpoint import load_checkpoint
    saved = config_from_dict(load_checkpoint(args.resume)['config'])
    return dataclasses.replace(saved, **config_from_args(typed))


def program():
    """The ``d2l-ncf`` command: `main` on sys.argv, then a quick exit
    (`pipes.leave`)."""
    return leave(main())


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
        os.execve(sys.executable, [sys.executable, '-m', 'd2l_ncf'] + argv,
                  dict(os.environ, **{numerics.ENV: wanted}))
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


def typed_options(argv):
    """The run settings typed in `argv` (not their defaults), by field."""
    typed = build_parser(suppress=True).parse_args(argv)
    return argparse.Namespace(**{
        f.name: getattr(typed, f.name) for f in dataclasses.fields(
            TrainConfig) if hasattr(typed, f.name)})


def check_typed(args, typed, config):
    """Options typed together where one would silently override or
    ignore the other."""
    given = vars(typed)
    for name, what in (('dataset', 'a MovieLens set'),
                       ('data_dir', 'a MovieLens folder')):
        if 'data' in given and name in given:
            raise ValueError(
                f'{option("data")} reads a file of interactions and '
                f'{option(name)} names {what}; given both, {option("data")} '
                f'would be used and {option(name)} ignored: drop one')
    if given.get('num_workers') and not config.reference:
        workers, reference = option('num_workers'), option('reference')
        advice = (f'the checkpoint was trained without {reference}, so '
                  f'drop {workers}' if getattr(args, 'resume', None)
                  else f'add {reference} or drop {workers}')
        raise ValueError(
            f'{workers} {config.num_workers} sets the DataLoader processes '
            f'of the chapter\'s PRDataset ({reference}); the default fast '
            f'sampler uses none: {advice}')
    if args.command == 'exercise':
        varied = {name for _, change in settings_for(args.exercise,
                                                      args.values)
                  for name in change}
        both = [option(f.name) for f in dataclasses.fields(TrainConfig)
                if f.name in varied and f.name in given]
        if both:
            raise ValueError(
                f"exercise {args.exercise} sets {', '.join(both)} from each "
                f"--values entry, so the {', '.join(both)} given would be "
                f"ignored: drop {', '.join(both)} or --values")


def main_run(args, argv, parser):
    """train or exercise: errors are messages, never tracebacks."""
    from ..runs.checkpoint import CheckpointError  # no MXNet yet: see below
    command = parser.commands[args.command]
    typed = typed_options(argv)
    try:
        if args.command == 'train' and args.resume is not None:
            config = resumed_config(args, typed)
        else:
            config = TrainConfig(**config_from_args(args))
    except CheckpointError as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 1
    try:
        config.validate()
        check_typed(args, typed, config)
        from ..runs.builders import resolve_devices
        resolve_devices(config)
        if args.command == 'train':
            check_kvstore(args)
        if args.command == 'exercise':
            for _, change in settings_for(args.exercise, args.values):
                dataclasses.replace(config, **change).validate()
    except (ValueError, ClusterError) as err:  # DeviceError included
        command.error(str(err))
    from ..runs.exercises import ExerciseFailed, run_exercise
    from ..datasets.movielens import DataNotFoundError
    from ..runs.records import OutputExistsError
    from ..runs.run import train
    from ..training import NonFiniteLossError
    try:
        if args.command == 'exercise':
            try:
                rows = run_exercise(args.exercise, args.values, config,
                                    tuple(args.seeds), args.out,
                                    progress=not args.no_progress,
                                    overwrite=args.overwrite)
            except ExerciseFailed as err:
                print_rows(err.rows)
                raise
            print_rows(rows)
        else:
            train(config, out=args.out, progress=not args.no_progress,
                  overwrite=args.overwrite, save=args.save,
                  resume=args.resume, kvstore=args.kvstore)
    except (UsageError, ClusterError) as err:
        command.error(str(err))
    except (DataNotFoundError, DataFormatError) as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 2  # a data error, as a usage error is
    except (OutputExistsError, CheckpointError, NonFiniteLossError,
            ValueError) as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 1
    return 0


def print_rows(rows):
    for row in rows:
        print(', '.join(f'{k} {v:.3f}' if isinstance(v, float)
                        else f'{k} {v}' for k, v in row.items()))


def check_kvstore(args):
    """A dist kvstore needs a launched job, and keeps no optimizer state
    on the workers in async mode."""
    check_launched(args.kvstore)
    if args.kvstore == 'dist_async' and (args.save or args.resume):
        raise ClusterError(
            '--kvstore dist_async updates the weights on the servers, '
            'where the optimizer state cannot be saved: --save and '
            '--resume need dist_sync')
    if args.kvstore == 'dist_async' and getattr(args, 'sparse', False):
        from ..engine.sparse import ASYNC_REFUSED
        raise ClusterError(ASYNC_REFUSED)


def main_recommend(args):
    from ..runs.checkpoint import CheckpointError
    from ..datasets.movielens import DataNotFoundError
    from ..runs.recommending import (TitlesNotFoundError, UnknownUserError,
                            format_recommendations, recommend)
    try:
        rows = recommend(args.checkpoint, args.user, args.k,
                         data_dir=args.data_dir)
    except (TitlesNotFoundError, DataNotFoundError, DataFormatError,
            UnknownUserError) as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 2  # a data error or a user not in the data: usage errors
    except (CheckpointError, ValueError) as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 1
    print(format_recommendations(rows, args.user))
    return 0


if __name__ == '__main__':
    sys.exit(main())
