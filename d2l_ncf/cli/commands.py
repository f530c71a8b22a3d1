"""What ``d2l-ncf train``, ``exercise`` and ``recommend`` do once
parsed: check the settings, then hand them down to `runs` (MXNet loads
there, after the command line's signal handling is in force).
"""
import dataclasses
import sys

from ..datasets.formats import DataFormatError
from ..engine.distributed import ClusterError, check_launched
from ..runs.checks import UsageError
from ..runs.config import TrainConfig
from ..runs.questions import settings_for
from .options import check_typed, config_from_args, resumed_config
from .parser import typed_options


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
        if args.command == 'ablation':
            from ..runs.ablation import check_models, model_config
            for model in check_models(args.models):
                model_config(model, config_from_args(typed))
    except (ValueError, ClusterError) as err:  # DeviceError included
        command.error(str(err))
    from ..runs.exercises import ExerciseFailed, run_exercise
    from ..datasets.movielens import DataNotFoundError
    from ..runs.records import OutputExistsError
    from ..runs.run import train
    from ..corrected import NonFiniteLossError
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
        elif args.command == 'ablation':
            from ..runs.ablation import main_ablation
            main_ablation(args, config_from_args(typed))
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
