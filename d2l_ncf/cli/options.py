"""The run options of the command line, each derived from a
`TrainConfig` field (its help, bounds, choices and parsing), and the
settings they make: `config_from_args`, a resumed run's config, and the
checks of typed options against them.
"""
import argparse
import dataclasses
import typing

from ..runs.config import TrainConfig, config_from_dict, option
from ..runs.questions import settings_for
from ..runtime import numerics


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
