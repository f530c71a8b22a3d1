"""The rules a run's settings obey on their own, before any data: the
bounds `config.TrainConfig` declares for each field, what the protocol
allows, the combinations that cannot work, and the limits of MXNet's
arithmetic. `check_config` raises one message naming the option and
saying what would work. It reads the fields from the config itself, so
`config` may call it without an import circle.
"""
import dataclasses
import math

from ..datasets.formats import parse_separator, table_format
from ..engine.optimizers import CANNOT_TRAIN, LAZY_OPTIMIZERS, is_optimizer
from ..protocol import PROTOCOLS

# MXNet takes a seed as a C int, NumPy one in [0, 2**32): beyond both,
# seeds would wrap or be refused after the data is read.
MAX_SEED = 2 ** 31 - 1
# MXNet computes in float32 and takes these as float32 parameters: a
# non-zero value outside [FLOAT_LOW, FLOAT_HIGH] overflows or underflows
# there (MXNet refuses e.g. --lr 1e308 deep inside the optimizer).
FLOAT_LOW, FLOAT_HIGH = 1e-30, 1e38
FLOAT32_OPTIONS = ('init_sigma', 'lr', 'wd', 'reg', 'ema')
# Sizes beyond these exhaust memory or MXNet's int32 tensor sizes long
# before they could train (measured: --num-factors 1e8 hits the int32
# limit, --hiddens 1e8 and --num-neg 1e8 the out-of-memory killer).
MAX_SIZES = {'num_factors': 4096, 'nums_hiddens': 4096, 'num_neg': 1000}


def option(field):
    """The command-line option that sets dataclass field `field`."""
    return '--' + (field.metadata['option'] or field.name).replace('_', '-')


def bound_error(field, value):
    """Why `value` is outside `field`'s declared bounds, or None."""
    name, meta = field.name, field.metadata
    values = value if isinstance(value, tuple) else (value,)
    if value is None or meta['choices']:
        return None
    rules = []
    if meta['low'] is not None:
        rules.append((all(v >= meta['low'] for v in values),
                      f">= {meta['low']}"))
    if meta['above'] is not None:
        rules.append((all(v > meta['above'] for v in values),
                      f"> {meta['above']}"))
    if meta['below'] is not None:
        rules.append((all(v < meta['below'] for v in values),
                      f"< {meta['below']}"))
    if not rules or all(ok for ok, _ in rules):
        return None
    if isinstance(value, tuple):
        return f"{name} must be one or more sizes {rules[0][1]}"
    return f"{name} must be {' and '.join(rule for _, rule in rules)}"


def check_config(config):
    """Raise ValueError naming the first setting that cannot work."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    floats = [f for f, field in fields.items() if field.type is float]
    for name in floats:  # inf or nan passes every bound below
        value = getattr(config, name)
        if not math.isfinite(value):
            raise ValueError(f'{option(fields[name])} must be a finite '
                             f'number, got {value}')
        if name in FLOAT32_OPTIONS and value and not (
                FLOAT_LOW <= abs(value) <= FLOAT_HIGH):
            zero = '0 or ' if name in ('wd', 'reg', 'ema') else ''
            raise ValueError(
                f'{option(fields[name])} {value:g} is outside what MXNet\'s '
                f'float32 arithmetic takes: use {zero}a value from '
                f'{FLOAT_LOW:g} to {FLOAT_HIGH:g}')
    for name, most in MAX_SIZES.items():
        value = getattr(config, name)
        if max(value if isinstance(value, tuple) else (value,),
               default=0) > most:
            shown = (' '.join(map(str, value)) if isinstance(value, tuple)
                     else value)
            raise ValueError(f'{option(fields[name])} {shown}: at most {most} '
                             f'(larger sizes exhaust memory before they '
                             f'train)')
    if not (0 <= config.seed <= MAX_SEED and config.seed == int(config.seed)):
        raise ValueError(f'--seed must be a whole number from 0 to '
                         f'{MAX_SEED} (the range NumPy and MXNet both take '
                         f'as it is), got {config.seed}')
    if config.optimizer.lower() in CANNOT_TRAIN:
        raise ValueError(f'--optimizer {config.optimizer}: '
                         f'{CANNOT_TRAIN[config.optimizer.lower()]}')
    if len(config.nums_hiddens) < 1:
        raise ValueError('nums_hiddens must be one or more sizes >= 1')
    for name, field in fields.items():
        value = getattr(config, name)
        why = bound_error(field, value)
        if why:
            raise ValueError(why)
        choices = field.metadata['choices']
        if choices and value not in choices and name == 'dataset':
            raise ValueError(f'unknown dataset {value!r}: expected one of '
                             f'{choices}, or a file (data)')
        if choices and value not in choices:
            raise ValueError(f'{name} must be one of {choices}')
    PROTOCOLS[config.protocol].check(config)
    checks = [
        (config.recency == 0 or config.loss == 'log',
         "--recency weighs each example's loss, which needs --loss log "
         "(the chapter's BPR and hinge losses sum the batch and take no "
         "weights)"),
        (not (config.reference and config.recency),
         "the chapter's PRDataset (--reference) has no per-example "
         "weights; --recency needs the fast sampler"),
        (not (config.reference and config.eval == 'sampled'),
         "the chapter's evaluator (--reference) ranks all unseen items; "
         "--eval sampled has no reference version"),
        (not (config.reference and config.num_neg != 1),
         "the chapter's PRDataset (--reference) draws one negative"),
        (not config.sparse or config.optimizer.lower() in LAZY_OPTIMIZERS,
         f"--sparse needs an optimizer whose MXNet update of a row-sparse "
         f"gradient is lazy (only the rows a batch used move): "
         f"{', '.join(LAZY_OPTIMIZERS)}; MXNet's {config.optimizer} is not"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    if not is_optimizer(config.optimizer):
        raise ValueError(f'unknown optimizer {config.optimizer!r}: expected '
                         f'a gluon optimizer name such as adam, sgd, nag, '
                         f'rmsprop, adagrad')
    if config.data is not None:
        table_format(parse_separator(',' if config.sep is None
                                     else config.sep), config.columns)
