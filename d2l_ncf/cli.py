"""The command line: ``d2l-ncf train`` (also ``python -m d2l_ncf``)."""
import argparse
import contextlib
import dataclasses
import os
import signal
import sys

from .compare import METRICS, main_compare
from .config import EVALS, LOSSES, TrainConfig
from .protocol import PROTOCOLS
from .checkpoint import CheckpointError, load_checkpoint
from .data import DATASETS, DataFormatError, DataNotFoundError
from .datasets import FIELDS
from .devices import DeviceError
from . import numerics, sparse
from .distributed import (DEFAULT_KVSTORE, KVSTORES, ClusterError,
                          check_launched)
from .launch import DESCRIPTION as LAUNCH_DESCRIPTION
from .launch import add_launch_options, main as launch_main
from .exercises import (EXERCISES, ExerciseFailed, run_exercise,
                        settings_for)
from .recommend import UnknownUserError, format_recommendations, recommend
from .run import (OutputExistsError, RunStopped, Stopped, UsageError,
                  config_from_dict, resolve_devices, train)
from .training import NonFiniteLossError


def bounded(kind, low, inclusive=True):
    """An argparse type: `kind` (int or float) at least (or above) `low`."""
    noun = 'a whole number' if kind is int else 'a number'
    rule = f"{noun} {'>=' if inclusive else '>'} {low:g}"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (value >= low if inclusive
                                 else value > low):
            raise argparse.ArgumentTypeError(f'expected {rule}, got {text}')
        return value
    parse.__name__ = rule
    return parse


positive_int = bounded(int, 1)
non_negative_int = bounded(int, 0)
positive_float = bounded(float, 0, inclusive=False)
non_negative_float = bounded(float, 0)


def unit_interval(text):
    """An argparse type: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f'expected a number >= 0 and < 1, got {text}')
    return value


def build_parser():
    d = TrainConfig()
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
    add_run_options(p, d)
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
    e.add_argument('exercise', choices=sorted(EXERCISES))
    e.add_argument('--values', nargs='+', required=True,
                   help='the settings to compare')
    e.add_argument('--seeds', type=int, nargs='+', default=[0],
                   help='seeds per setting (default: 0)')
    e.add_argument('--out', default=None,
                   help='folder for exercise.csv, .md and .png')
    add_run_options(e, d)
    e.set_defaults(protocol='corrected')
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
    c.add_argument('--metrics', nargs='+', default=list(METRICS),
                   help='which metrics (default: %(default)s)')
    return parser


def add_run_options(p, d):
    """The options of one training run, shared by train and exercise."""
    p.add_argument('--protocol', choices=sorted(PROTOCOLS),
                   default=d.protocol,
                   help="'book' reproduces the chapter's numbers, defects "
                        "included; 'corrected' fixes them (docs/ERRATA.md) "
                        "(default: %(default)s)")
    p.add_argument('--eval', choices=EVALS, default=d.eval,
                   help="'full' ranks every unseen item; 'sampled' ranks "
                        "the test item among 99 sampled ones (NCF paper; "
                        "corrected protocol) (default: %(default)s)")
    p.add_argument('--k', type=positive_int, default=d.k,
                   help='Hit@k and NDCG@k cut-off (default: 50, or 10 '
                        'with --eval sampled; the book fixes 50)')
    p.add_argument('--num-neg', type=positive_int, default=d.num_neg,
                   help='negatives per positive (default: %(default)s)')
    p.add_argument('--eval-negatives', type=positive_int,
                   default=d.eval_negatives,
                   help='sampled negatives per user with --eval sampled '
                        '(default: %(default)s)')
    p.add_argument('--eval-chunk', type=positive_int, default=d.eval_chunk,
                   help='pairs (users x items) the evaluator scores and '
                        'ranks at once; bounds its memory, not its numbers '
                        '(default: %(default)s)')
    p.add_argument('--reference', action='store_true',
                   help="use the chapter's own PRDataset and "
                        "evaluate_ranking (slow) instead of the fast path")
    p.add_argument('--sparse', action='store_true',
                   help='row-sparse embedding gradients and lazy updates: '
                        'a step touches only the rows its batch uses '
                        '(corrected protocol; adam, sgd or nag)')
    p.add_argument('--devices', default=d.devices,
                   help="'all' (GPUs, else CPU), 'cpu', 'cpu:N', 'gpu:0,1' "
                        "(default: %(default)s)")
    p.add_argument('--epochs', type=positive_int, default=d.num_epochs,
                   help='training epochs (default: %(default)s)')
    p.add_argument('--eval-step', type=positive_int, default=d.eval_step,
                   help='evaluate every N epochs (default: %(default)s)')
    p.add_argument('--dataset', choices=sorted(DATASETS), default=d.dataset,
                   help="MovieLens set: ml-100k (the chapter's), ml-1m "
                        "(the NCF paper's), ml-20m or ml-25m (default: "
                        "%(default)s)")
    p.add_argument('--data-dir', default=d.data_dir,
                   help='folder holding u.data (ml-100k), ratings.dat '
                        '(ml-1m) or ratings.csv (ml-20m, ml-25m) (default: '
                        '$D2L_NCF_DATA_DIR, $D2L_NCF_ML1M_DIR, '
                        '$D2L_NCF_ML20M_DIR or $D2L_NCF_ML25M_DIR, else '
                        'download)')
    p.add_argument('--data', default=d.data, metavar='PATH',
                   help='a CSV/TSV file of interactions instead of '
                        'MovieLens; a header line is allowed')
    p.add_argument('--sep', default=d.sep,
                   help="field separator of --data: ',', 'tab', ';' ... "
                        "(default: tab for .tsv files, else comma)")
    p.add_argument('--columns', default=','.join(d.columns),
                   help=f"the columns of --data, in order, from "
                        f"{','.join(FIELDS)}; user and item required "
                        f"(default: %(default)s)")
    p.add_argument('--seed', type=int, default=d.seed,
                   help='seeds the sampler, shuffling and initialisation '
                        '(default: %(default)s)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace an earlier run in --out')
    p.add_argument('--num-factors', type=positive_int, default=d.num_factors,
                   help='latent factors (default: %(default)s)')
    p.add_argument('--hiddens', type=positive_int, nargs='+',
                   default=list(d.nums_hiddens),
                   help='MLP layer sizes (default: 10 10 10)')
    p.add_argument('--lr', type=positive_float, default=d.lr,
                   help='learning rate (default: %(default)s)')
    p.add_argument('--wd', type=non_negative_float, default=d.wd,
                   help='weight decay (default: %(default)s)')
    p.add_argument('--reg', type=non_negative_float, default=d.reg,
                   help='L2 penalty on the embedding rows each batch uses '
                        '(corrected protocol) (default: %(default)s)')
    p.add_argument('--ema', type=unit_interval, default=d.ema,
                   help='evaluate a moving average of the weights with '
                        'this decay per batch, e.g. 0.99 (corrected '
                        'protocol; default: %(default)s, off)')
    p.add_argument('--recency', type=non_negative_float, default=d.recency,
                   help="weigh each user's latest training interactions "
                        'more: 1 + RECENCY * exp(-r / TAU) for an '
                        'interaction followed by r more of the user\'s '
                        '(corrected protocol, log loss; default: '
                        '%(default)s, off)')
    p.add_argument('--recency-tau', type=positive_float,
                   default=d.recency_tau, metavar='TAU',
                   help='how fast the recency weight fades, in '
                        'interactions (default: %(default)s)')
    p.add_argument('--optimizer', default=d.optimizer,
                   help='a gluon optimizer name (default: %(default)s)')
    p.add_argument('--batch-size', type=positive_int, default=d.batch_size,
                   help='(default: %(default)s)')
    p.add_argument('--loss', choices=LOSSES, default=d.loss,
                   help='(default: %(default)s)')
    p.add_argument('--init-sigma', type=positive_float, default=d.init_sigma,
                   help='std of the Normal initialiser (default: '
                        '%(default)s)')
    p.add_argument('--num-workers', type=non_negative_int,
                   default=d.num_workers,
                   help='DataLoader worker processes (default: %(default)s; '
                        'the chapter uses 4)')
    p.add_argument('--no-progress', action='store_true',
                   help='no progress bars on stderr')
    p.add_argument('--numerics', choices=numerics.MODES, default=None,
                   help="'portable' fixes the CPU arithmetic (oneDNN "
                        "capped at AVX2, one thread) so the same seed gives "
                        "the same bits on any x86-64 CPU with AVX2; "
                        "'native' leaves it to the environment and the CPU, "
                        f"for speed (default: ${numerics.ENV}, else "
                        f"{numerics.DEFAULT_MODE})")


def config_from_args(args):
    return TrainConfig(
        num_factors=args.num_factors, nums_hiddens=tuple(args.hiddens),
        init_sigma=args.init_sigma, optimizer=args.optimizer, lr=args.lr,
        wd=args.wd, reg=args.reg, ema=args.ema, recency=args.recency,
        recency_tau=args.recency_tau, batch_size=args.batch_size,
        num_epochs=args.epochs,
        loss=args.loss, eval_step=args.eval_step, devices=args.devices,
        seed=args.seed, num_workers=args.num_workers,
        data_dir=args.data_dir, num_neg=args.num_neg,
        protocol=args.protocol, eval=args.eval, k=args.k,
        eval_negatives=args.eval_negatives, eval_chunk=args.eval_chunk,
        reference=args.reference, sparse=args.sparse,
        dataset=args.dataset, data=args.data, sep=args.sep,
        columns=tuple(c.strip() for c in args.columns.split(',')))


# TrainConfig field -> the option that sets it (where the names differ)
OPTION_OF = {'nums_hiddens': 'hiddens', 'num_epochs': 'epochs'}


def explicit_options(parser, argv):
    """The `dest` of every option typed in `argv`."""
    sub = parser._subparsers._group_actions[0].choices[argv[0]]
    typed = set()
    for action in sub._actions:
        for opt in action.option_strings:
            if any(a == opt or a.startswith(opt + '=') for a in argv):
                typed.add(action.dest)
    return typed


def resumed_config(args, argv, parser):
    """The checkpoint's settings, with the options typed on top."""
    saved = config_from_dict(load_checkpoint(args.resume)['config'])
    typed = explicit_options(parser, argv)
    given = config_from_args(args)
    changes = {}
    for field in dataclasses.fields(saved):
        option = OPTION_OF.get(field.name, field.name)
        if option in typed:
            changes[field.name] = getattr(given, field.name)
    return dataclasses.replace(saved, **changes)


def main(argv=None):
    parser = build_parser()
    as_program = argv is None
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
    if args.command == 'recommend':
        return main_recommend(args)
    with stopping_signals():
        try:
            return main_run(args, argv, parser)
        except RunStopped as err:
            print(f'd2l-ncf: {err}', file=sys.stderr)
            return err.exit_code
        except KeyboardInterrupt as err:
            signum = getattr(err, 'signum', signal.SIGINT)
            print(f'd2l-ncf: stopped by {signal.Signals(signum).name}',
                  file=sys.stderr)
            return 128 + signum


@contextlib.contextmanager
def stopping_signals():
    """SIGINT and SIGTERM raise `Stopped` while a run goes; once caught,
    further ones are ignored until the command returns."""
    def stop(signum, frame):
        for s in previous:  # the run cleans up undisturbed
            signal.signal(s, signal.SIG_IGN)
        raise Stopped(signum)
    previous = {s: signal.signal(s, stop)
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main_run(args, argv, parser):
    """train or exercise: errors are messages, never tracebacks."""
    try:
        if args.command == 'train' and args.resume is not None:
            config = resumed_config(args, argv, parser)
        else:
            config = config_from_args(args)
    except CheckpointError as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 1
    try:
        config.validate()
        resolve_devices(config)
        if args.command == 'train':
            check_kvstore(args)
        if args.command == 'exercise':
            for _, change in settings_for(args.exercise, args.values):
                dataclasses.replace(config, **change).validate()
    except (ValueError, DeviceError, ClusterError) as err:
        parser.error(str(err))
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
        parser.error(str(err))
    except (DataNotFoundError, DataFormatError, OutputExistsError,
            CheckpointError, NonFiniteLossError, ValueError) as err:
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
        raise ClusterError(sparse.ASYNC_REFUSED)


def main_recommend(args):
    try:
        rows = recommend(args.checkpoint, args.user, args.k,
                         data_dir=args.data_dir)
    except (CheckpointError, UnknownUserError, ValueError) as err:
        print(f'd2l-ncf: error: {err}', file=sys.stderr)
        return 1
    print(format_recommendations(rows, args.user))
    return 0


if __name__ == '__main__':
    sys.exit(main())
