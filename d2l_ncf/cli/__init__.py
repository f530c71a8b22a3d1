"""The command line: ``d2l-ncf train`` (also ``python -m d2l_ncf``),
``launch``, ``recommend``, ``exercise``, ``compare`` and ``ablation``.

The command line is parsed once: each run option is a `TrainConfig`
field (`runs.config`), left out of the namespace unless typed, so the
namespace's run options are the config's typed settings. The numerics
are fixed next (`numerics.configure`), before MXNet loads: the commands
import it when they run, after `stop_at_safe_points` is in force (so
Ctrl-C there is a stop). ``--help`` and usage errors never wait for it.
"""
import argparse
import dataclasses
import signal
import sys
import typing

from ..engine.distributed import (DEFAULT_KVSTORE, KVSTORES, ClusterError,
                                  check_launched)
from ..engine.launcher import MAX_SERVERS, MAX_WORKERS, LaunchError, run
from ..protocol import CORRECTED, EVALS
from ..runs.compare import COMPARED, main_compare
from ..runs.config import MODELS, TrainConfig, UsageError, option
from ..runs.questions import EXERCISES, settings_for
from ..runtime import numerics
from ..runtime.pipes import guard_std_streams, leave
from ..runtime.stopping import RunStopped, stop_at_safe_points

TRAINED = ('neumf', 'mf', 'gmf', 'mlp')  # `--model` of train, exercise


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
    if argv is None:  # `| head -1`: a closed pipe is no error of the run
        guard_std_streams()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['launch']:
        return main_launch(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    command = parser.commands[args.command]
    try:  # MXNet reads these settings when it loads: before it does
        numerics.configure(getattr(args, 'numerics', None))
    except numerics.NumericsError as err:
        command.error(str(err))
    if args.command == 'compare':
        return main_compare(args.run, args.reference, args.rtol, args.atol,
                            args.metrics)
    for name in ('out', 'save', 'resume'):
        if getattr(args, name, None) == '':
            command.error(f"--{name} '': expected a folder name")
    with stop_at_safe_points():  # MXNet loads inside: a signal is a stop
        if args.command == 'recommend':
            return main_recommend(args)
        try:
            return main_run(args, command)
        except RunStopped as err:
            return stopped(err.signum, str(err))


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


def add_run_options(p, models=TRAINED, **defaults):
    """One option per `TrainConfig` field, from its declaration; an
    option not typed is left out of the namespace (a resumed run keeps
    the checkpoint's value). `defaults` replace the config's here."""
    p.set_defaults(**defaults)
    for field in dataclasses.fields(TrainConfig):
        if field.name == 'model' and not models:
            continue  # the ablation's --models
        meta = field.metadata
        default = defaults.get(field.name, field.default)
        text = (' '.join(map(str, default)) if field.name == 'nums_hiddens'
                else ','.join(default) if isinstance(default, tuple)
                else default)
        kwargs = {'dest': field.name, 'default': argparse.SUPPRESS,
                  'help': (meta['help'] % {'default': text}).replace(
                      '%', '%%')}
        kind = next((t for t in (int, float) if field.type is t
                     or t in typing.get_args(field.type)
                     or typing.get_args(field.type)[:1] == (t,)), None)
        if meta['flag']:
            kwargs['action'] = 'store_true'
        elif kind is not None:
            kwargs['type'] = bounded(kind, meta['low'], meta['above'],
                                     meta['below'])
        if field.name == 'model':
            kwargs['choices'] = models
        elif meta['choices']:
            kwargs['choices'] = meta['choices']
        elif not meta['flag']:
            kwargs['metavar'] = meta['metavar'] or (
                meta['option'] or field.name).upper()
        if isinstance(default, tuple) and meta['parse'] is None:
            kwargs['nargs'] = '+'  # e.g. --hiddens 10 10 10
        p.add_argument(option(field.name), **kwargs)
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


def typed_settings(args):
    """The config fields typed in parsed `args`, as the config's types."""
    values = {}
    for field in dataclasses.fields(TrainConfig):
        if hasattr(args, field.name):
            value = getattr(args, field.name)
            parse = field.metadata['parse']
            values[field.name] = (parse(value) if parse else tuple(value)
                                  if isinstance(value, list) else value)
    return values


def build_parser():
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
    add_run_options(p)
    p.add_argument('--out', default=None,
                   help='folder for metrics.json and curves.png')
    p.add_argument('--save', default=None, metavar='DIR',
                   help='write a checkpoint (parameters, optimizer and '
                        'sampler state, config, id mapping) to DIR after '
                        "every epoch; each replaces only the last "
                        "checkpoint's own files (docs/GUARANTEES.md)")
    p.add_argument('--resume', default=None, metavar='DIR',
                   help="continue training from checkpoint DIR with its "
                        "settings; --epochs is the new total")
    p.add_argument('--kvstore', choices=KVSTORES, default=DEFAULT_KVSTORE,
                   help="gluon.Trainer's kvstore; dist_sync and dist_async "
                        "train on a parameter-server job started by "
                        "'d2l-ncf launch' (default: %(default)s, gluon's "
                        "and so the chapter's)")
    la = sub.add_parser(  # main hands 'launch' to main_launch
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
        allow_abbrev=False,
        description="Train one model per --values entry (and per seed) "
                    "and write exercise.csv, exercise.md and exercise.png "
                    "to --out. Exercises: factors (--values 4 8 16), "
                    "hiddens (--values '10' '10 10' '32 16 8'), optim "
                    "(--values adam:0.01:1e-5 sgd:0.1:0), loss (--values "
                    "bpr hinge). The protocol defaults to corrected here: "
                    "the book's model learns nothing to compare.")
    e.add_argument('exercise', choices=sorted(EXERCISES))
    e.add_argument('--values', nargs='+', required=True,
                   help='the settings to compare')
    e.add_argument('--seeds', type=int, nargs='+', default=[0],
                   help='seeds per setting (default: 0)')
    e.add_argument('--out', default=None,
                   help='folder for exercise.csv, .md and .png')
    add_run_options(e, protocol=CORRECTED.name)  # exercises compare learning
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
    a = sub.add_parser(
        'ablation', help="NeuMF's parts, pre-training and baselines",
        allow_abbrev=False,
        description="Train each model once per seed with its family's "
                    "recipe (docs/RESULTS.md), evaluate it by the full "
                    "ranking and by 99 sampled negatives (corrected "
                    "protocol), and write ablation.json, .md, .csv and "
                    ".png to --out. Options typed apply to every model.")
    a.add_argument('--models', nargs='+', choices=MODELS,
                   default=list(MODELS), metavar='MODEL',
                   help=f"from {', '.join(MODELS)} (default: all)")
    a.add_argument('--evals', nargs='+', choices=EVALS,
                   default=list(EVALS), help='(default: both)')
    a.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                   help='one run of each model per seed (default: 0 1 2)')
    a.add_argument('--out', default=None,
                   help='folder for ablation.json, .md, .csv and .png')
    add_run_options(a, models=(), protocol=CORRECTED.name)
    parser.commands = {'train': p, 'launch': la, 'recommend': r,
                       'exercise': e, 'compare': c, 'ablation': a}
    return parser


def main_run(args, command):
    """train, exercise or ablation: errors are messages, never
    tracebacks."""
    from ..runs.checkpoint import CheckpointError  # no MXNet yet: see below
    typed = typed_settings(args)
    try:
        if args.command == 'train' and args.resume is not None:
            from ..runs.checkpoint import load_checkpoint
            from ..runs.config import config_from_dict
            saved = config_from_dict(load_checkpoint(args.resume)['config'],
                                     f'{args.resume}: config.json')
            config = dataclasses.replace(saved, **typed)
        else:
            config = TrainConfig(**typed)
    except CheckpointError as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 1
    try:
        config.validate()
        check_typed(args, typed, config)
        if args.command == 'train':
            check_kvstore(args)
        if args.command == 'exercise':
            for _, change in settings_for(args.exercise, args.values):
                dataclasses.replace(config, **change).validate()
        if args.command == 'ablation':
            from ..runs.questions import check_models, model_config
            for model in check_models(args.models):
                model_config(model, typed)
        from ..runs.builders import resolve_devices  # MXNet loads here
        resolve_devices(config)
    except (ValueError, ClusterError) as err:  # DeviceError included
        command.error(str(err))
    from ..datasets.formats import DataFormatError
    from ..datasets.movielens import DataNotFoundError
    from ..runs.records import OutputExistsError
    from ..runs.run import train
    from ..runs.sweep import SweepFailed
    from ..corrected import NonFiniteLossError
    from ..engine.scoring import NonFiniteModelError
    try:
        if args.command == 'exercise':
            from ..runs.exercises import run_exercise
            try:
                rows = run_exercise(args.exercise, args.values, config,
                                    tuple(args.seeds), args.out,
                                    progress=not args.no_progress,
                                    overwrite=args.overwrite)
            except SweepFailed as err:
                print_rows(err.rows)
                raise
            print_rows(rows)
        elif args.command == 'ablation':
            from ..runs.ablation import main_ablation
            main_ablation(args, typed)
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
            NonFiniteModelError, ValueError) as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 1
    return 0


def check_typed(args, typed, config):
    """Options typed together where one would silently override or
    ignore the other."""
    for name, what in (('dataset', 'a MovieLens set'),
                       ('data_dir', 'a MovieLens folder')):
        if 'data' in typed and name in typed:
            raise ValueError(
                f'{option("data")} reads a file of interactions and '
                f'{option(name)} names {what}; given both, {option("data")} '
                f'would be used and {option(name)} ignored: drop one')
    if typed.get('num_workers') and not config.reference:
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
        both = [option(name) for name in typed if name in varied]
        if both:
            raise ValueError(
                f"exercise {args.exercise} sets {', '.join(both)} from each "
                f"--values entry, so the {', '.join(both)} given would be "
                f"ignored: drop {', '.join(both)} or --values")


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
    from ..datasets.formats import DataFormatError
    from ..datasets.movielens import DataNotFoundError
    from ..runs.checkpoint import CheckpointError
    from ..runs.recommending import (ListTooLongError, TitlesNotFoundError,
                                     UnknownUserError,
                                     format_recommendations, recommend)
    try:
        rows = recommend(args.checkpoint, args.user, args.k,
                         data_dir=args.data_dir)
    except (TitlesNotFoundError, DataNotFoundError, DataFormatError,
            UnknownUserError, ListTooLongError) as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 2  # a data error, a user or a k the data lacks: usage
    except (CheckpointError, ValueError) as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 1
    print(format_recommendations(rows, args.user))
    return 0


# ``d2l-ncf launch``: a scheduler, S servers and W workers on this
# machine (loopback) or on the hosts of --hosts through ssh, watched
# (`engine.launcher` plans, starts and stops them; its exit code is the
# first failure's).
LAUNCH_DESCRIPTION = (
    'Start a scheduler, servers and workers for a distributed train '
    'command (MXNet parameter server) and watch them: d2l-ncf launch '
    '--workers 2 --servers 1 -- train --kvstore dist_sync ...')


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


def main_launch(argv):
    """``d2l-ncf launch OPTIONS -- train ...``: split at the ``--`` (the
    train command's options are its own), then run the job."""
    parser = build_parser().commands['launch']
    try:
        if '--' not in argv and not {'-h', '--help'} & set(argv):
            raise LaunchError("missing '--' before the train command, e.g. "
                              "d2l-ncf launch --workers 2 -- train "
                              "--kvstore dist_sync ...")
        cut = argv.index('--') if '--' in argv else len(argv)
        args = parser.parse_args(argv[:cut])
        return run(args.workers, args.servers, argv[cut + 1:], args.port,
                   args.hosts, args.python, args.ssh)
    except LaunchError as err:
        parser.error(str(err))
