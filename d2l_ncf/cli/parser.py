"""The argument parser of ``d2l-ncf`` and its sub-commands: train,
launch, recommend, exercise, compare. Imports no MXNet.
"""
import argparse
import dataclasses

from ..engine.distributed import DEFAULT_KVSTORE, KVSTORES
from ..protocol import CORRECTED
from ..runs.compare import COMPARED
from ..runs.config import TrainConfig
from ..runs.questions import ABLATION_MODELS, EXERCISES
from .launch import DESCRIPTION as LAUNCH_DESCRIPTION, add_launch_options
from .options import add_run_options, non_negative_float, positive_int


EXERCISE_NAMES = tuple(sorted(EXERCISES))


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
                        "checkpoint's own files (docs/GUARANTEES.md)")
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
    a = sub.add_parser(
        'ablation', help="NeuMF's parts, pre-training and baselines",
        description="Train each model once per seed with its family's "
                    "recipe (docs/RESULTS.md), evaluate it by the full "
                    "ranking and by 99 sampled negatives (corrected "
                    "protocol), and write ablation.json, .md, .csv and "
                    ".png to --out. Options typed apply to every model.")
    a.add_argument('--models', nargs='+', choices=ABLATION_MODELS,
                   default=list(ABLATION_MODELS), metavar='MODEL',
                   help=f"from {', '.join(ABLATION_MODELS)} (default: all)")
    a.add_argument('--evals', nargs='+', choices=('full', 'sampled'),
                   default=['full', 'sampled'], help='(default: both)')
    a.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                   help='one run of each model per seed (default: 0 1 2)')
    a.add_argument('--out', default=None,
                   help='folder for ablation.json, .md, .csv and .png')
    add_run_options(a, suppress)
    a.set_defaults(protocol=CORRECTED.name)
    parser.commands = {'train': p, 'recommend': r, 'exercise': e,
                       'compare': c, 'ablation': a}  # for usage errors
    return parser


def typed_options(argv):
    """The run settings typed in `argv` (not their defaults), by field."""
    typed = build_parser(suppress=True).parse_args(argv)
    return argparse.Namespace(**{
        f.name: getattr(typed, f.name) for f in dataclasses.fields(
            TrainConfig) if hasattr(typed, f.name)})
