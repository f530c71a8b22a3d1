"""Every check of a run's settings, before any work: `check_config` on
the settings alone (bounds from `config.TrainConfig`'s declarations, and
what the protocol allows), `check_fits_data` on the settings against the
data, `check_resumable` against a checkpoint. Each raises one message
that names the option and says what would work.
"""
import math
import sys

import numpy

from .config import FIELDS_BY_NAME, RESUMABLE, option, resume_conflicts
from .metrics import ranked_list_lengths, undefined_metrics
from .protocol import PROTOCOLS, get_protocol

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
# Gluon optimizers that cannot train NeuMF, and why.
CANNOT_TRAIN = {
    'groupadagrad': 'MXNet\'s GroupAdaGrad updates 2-D weights only; '
                    'NeuMF\'s dense layers have 1-D biases',
    'test': 'MXNet\'s Test optimizer adds the gradient (it climbs the '
            'loss); it exists to test MXNet, not to train',
}

# MXNet 1.9.1's optimizers (`mx.optimizer.Optimizer.opt_registry`), so
# that checking --optimizer needs no MXNet; one registered later is
# looked up there (tests/test_cli.py checks the list against MXNet's).
MXNET_OPTIMIZERS = (
    'adadelta', 'adagrad', 'adam', 'adamax', 'ccsgd', 'dcasgd', 'ftml',
    'ftrl', 'groupadagrad', 'lamb', 'lars', 'lbsgd', 'nadam', 'nag',
    'rmsprop', 'sgd', 'sgld', 'signum', 'test')
# Gluon optimizers whose MXNet update of a row-sparse gradient is lazy
# (`sparse`): rows the gradient lacks keep their weight and state
# (checked by tests/test_sparse.py). Adam's is the default
# (lazy_update=True). Of the others, some move every row (rmsprop, ftrl,
# nadam, ...: they densify the gradient or decay every row, which is what
# --sparse exists to avoid) and adagrad fails on it.
LAZY_OPTIMIZERS = ('adam', 'sgd', 'nag')


class UsageError(ValueError):
    """Settings that cannot work with this data; found before training."""


def bound_error(name, value):
    """Why `value` is outside field `name`'s declared bounds, or None."""
    meta = FIELDS_BY_NAME[name].metadata
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
    floats = [f for f, field in FIELDS_BY_NAME.items() if field.type is float]
    for name in floats:  # inf or nan passes every bound below
        value = getattr(config, name)
        if not math.isfinite(value):
            raise ValueError(f'{option(name)} must be a finite number, '
                             f'got {value}')
        if name in FLOAT32_OPTIONS and value and not (
                FLOAT_LOW <= abs(value) <= FLOAT_HIGH):
            zero = '0 or ' if name in ('wd', 'reg', 'ema') else ''
            raise ValueError(
                f'{option(name)} {value:g} is outside what MXNet\'s '
                f'float32 arithmetic takes: use {zero}a value from '
                f'{FLOAT_LOW:g} to {FLOAT_HIGH:g}')
    for name, most in MAX_SIZES.items():
        value = getattr(config, name)
        if max(value if isinstance(value, tuple) else (value,),
               default=0) > most:
            shown = (' '.join(map(str, value)) if isinstance(value, tuple)
                     else value)
            raise ValueError(f'{option(name)} {shown}: at most {most} '
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
    for name, field in FIELDS_BY_NAME.items():
        value = getattr(config, name)
        why = bound_error(name, value)
        if why:
            raise ValueError(why)
        choices = field.metadata['choices']
        if choices and value not in choices and name == 'dataset':
            raise ValueError(f'unknown dataset {value!r}: expected one of '
                             f'{choices}, or a file (data)')
        if choices and value not in choices:
            raise ValueError(f'{name} must be one of {choices}')
    why = PROTOCOLS[config.protocol].refusal(config)
    if why:
        raise ValueError(why)
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
        from .reader import parse_separator, table_format
        table_format(parse_separator(',' if config.sep is None
                                     else config.sep), config.columns)


def is_optimizer(name):
    """Whether MXNet has an optimizer `name`: one registered after
    MXNet 1.9.1's own needs MXNet imported already."""
    if name.lower() in MXNET_OPTIMIZERS:
        return True
    mx = sys.modules.get('mxnet')
    return mx is not None and (
        name.lower() in mx.optimizer.Optimizer.opt_registry)


def check_resumable(checkpoint, config):
    """Refuse to continue a checkpoint with other settings."""
    from .checkpoint import CheckpointError
    differ = resume_conflicts(checkpoint['config'], config)
    if differ:
        raise CheckpointError(
            f"{checkpoint['folder']} was trained with other settings: "
            f"{'; '.join(differ)}. A resumed run keeps the saved settings "
            f"(see its config.json); only --epochs may grow, and "
            f"{', '.join(option(n) for n in RESUMABLE if n != 'num_epochs')} "
            f"may change")
    done = checkpoint['state']['epoch']
    if config.num_epochs <= done:
        raise UsageError(
            f"{checkpoint['folder']} has trained {done} epochs already; "
            f"pass --epochs larger than {done} to continue")


def check_fits_data(config, data):
    """Settings that depend on the data's size, checked before training."""
    check_memory(config, data.num_users, data.num_items)
    if config.k is not None and config.k > data.num_items:
        raise UsageError(f'--k {config.k} is larger than the '
                         f'{data.num_items} items of the data')
    if config.batch_size > len(data.users_train):
        raise UsageError(
            f'--batch-size {config.batch_size} is larger than the '
            f'{len(data.users_train)} training interactions: an epoch would '
            f'hold no batch')
    if not get_protocol(config.protocol).rank_all_items and (
            data.num_users > data.num_items):
        raise UsageError(
            f"the book protocol ranks the item indices below the number of "
            f"users, as the chapter's code does; this data has "
            f"{data.num_users} users but {data.num_items} items, so that "
            f"would index past the item table: use --protocol corrected")
    if config.eval == 'sampled':
        fewest = data.num_items - max(
            len(set(c)) + 1 for c in data.candidates.values())
        if fewest < config.eval_negatives:
            raise UsageError(
                f'--eval sampled needs {config.eval_negatives} unseen items '
                f'per user; some user has only {fewest} of the '
                f'{data.num_items} items unseen: lower --eval-negatives')
        if config.cutoff > config.eval_negatives:
            raise UsageError(
                f'--k {config.cutoff}{default_note(config)} is at or above '
                f'the {config.eval_negatives + 1} items of each sampled '
                f'list (--eval-negatives {config.eval_negatives} and the '
                f'held-out item): every hit would be certain; use --k '
                f'{config.eval_negatives} or less, or more --eval-negatives')
    else:
        check_full_ranking(config, data)
    if config.recency:
        try:
            from .sampling import recency_weights
            recency_weights(data.users_train, config.recency,
                            config.recency_tau)
        except ValueError as err:
            raise UsageError(
                f'--recency {config.recency:g} (--recency-tau '
                f'{config.recency_tau:g}) is too large for this data: '
                f'{err}') from None


# What a CPU run holds in memory, measured with /usr/bin/time on 2 AMD
# EPYC cores (docs/RELIABILITY.md): about 0.26 GB for Python, MXNet and
# the libraries; four float32 copies of every parameter with Adam
# (weight, gradient, two moments; three with other optimizers); per
# trained pair about three float32 values per hidden unit and factor
# (outputs kept for the backward pass); and scoring holds two outputs of
# the widest layer for each pair of a batch (`scoring.SCORE_BATCH`).
BASE_BYTES = 0.26e9
ADAM_LIKE = ('adam', 'nadam', 'adamax', 'lamb', 'ftml')
ACTIVATION_COPIES = 3
SCORE_PAIRS = 1 << 17  # scoring.SCORE_BATCH, without importing MXNet


def memory_estimate(config, num_users, num_items):
    """Bytes a CPU run of `config` needs at least on data of this size:
    ``(total, parameters)``."""
    f, hiddens = config.num_factors, config.nums_hiddens
    widths = (2 * f,) + tuple(hiddens)
    params = (2 * (num_users + num_items) * f
              + sum(a * b + b for a, b in zip(widths, widths[1:]))
              + f + hiddens[-1] + 1)
    copies = 4 if config.optimizer.lower() in ADAM_LIKE else 3
    devices = cpu_devices(config.devices) or 1
    pairs = config.batch_size * (1 + config.num_neg)
    training = 4 * pairs * (sum(hiddens) + 4 * f) * ACTIVATION_COPIES
    scoring = 4 * SCORE_PAIRS * 2 * max(widths)
    weights = 4 * params * copies * devices
    return BASE_BYTES + weights + training + scoring, params


def cpu_devices(spec):
    """How many CPU contexts device spec `spec` names (None for GPUs,
    whose memory is not the machine's)."""
    kind, _, rest = spec.strip().lower().partition(':')
    if kind == 'cpu':
        return int(rest or 1)
    mx = sys.modules.get('mxnet')
    if kind == 'all' and mx is not None and not mx.context.num_gpus():
        return 1
    return None


def available_memory(meminfo='/proc/meminfo'):
    """Bytes the kernel says a new allocation can take (MemAvailable),
    or None where it does not say."""
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(config, num_users, num_items, available=None):
    """Refuse settings whose estimated memory exceeds what is available:
    a run that cannot fit would train for minutes, then be killed."""
    if cpu_devices(config.devices) is None:
        return
    available = available_memory() if available is None else available
    if available is None:
        return
    total, params = memory_estimate(config, num_users, num_items)
    if total > available:
        raise UsageError(
            f'these settings need about {total / 1e9:.1f} GB of memory '
            f'({params:,} parameters with their gradients and optimizer '
            f'state, a batch of {config.batch_size} and the scoring of '
            f'{SCORE_PAIRS} pairs; --num-factors {config.num_factors}, '
            f'--hiddens {layers(config.nums_hiddens)}); this '
            f'machine has {available / 1e9:.1f} GB available: use fewer '
            f'or smaller layers, or a smaller --batch-size')


def layers(hiddens):
    """--hiddens in words, short: '10 10 10' or '40 layers of up to
    4096'."""
    if len(hiddens) <= 4:
        return ' '.join(map(str, hiddens))
    return f'{len(hiddens)} layers of up to {max(hiddens)}'


def default_note(config):
    return ' (the default)' if config.k is None else ''


def check_full_ranking(config, data):
    """Refuse a full ranking whose metrics are undefined or certain; under
    the book protocol, whose k = 50 is the chapter's, say so instead."""
    protocol = get_protocol(config.protocol)
    user_ids = sorted(data.test_iter)
    num_ranked = (data.num_items if protocol.rank_all_items
                  else data.num_users)
    lengths, listed = ranked_list_lengths(user_ids, data.candidates,
                                          data.test_iter, num_ranked)
    name = ((lambda u: str(data.user_ids[u])) if data.user_ids is not None
            else (lambda u: f'index {u}'))
    why = undefined_metrics(lengths, listed, config.cutoff,
                            protocol.fixed_k, user_ids, name,
                            f'--k {config.cutoff}{default_note(config)}')
    if why:
        raise UsageError(why)
    if protocol.fixed_k and not listed.any():
        print(f'note: under the book protocol no test item is ranked: the '
              f'chapter ranks only item indices below the number of users '
              f'({data.num_users}), and every test item is at or above '
              f'it (or was trained on), so hit rate and AUC will read '
              f'0.000 whatever the model learns; --protocol corrected '
              f'ranks every item', file=sys.stderr)
    certain = numpy.count_nonzero(listed & (lengths <= config.cutoff))
    if protocol.fixed_k and certain:
        print(f'note: under the book protocol {certain} of {len(user_ids)} '
              f'users rank at most {config.cutoff} items (item indices '
              f'below the {data.num_users} users, as the chapter does), so '
              f'their hit is certain whenever their test item is ranked: '
              f'the chapter\'s fixed k = {config.cutoff}; --protocol '
              f'corrected --k K measures it', file=sys.stderr)


def divergence_settings(config):
    """The options that can drive a loss or a weight to NaN or inf."""
    named = [('lr', config.lr), ('optimizer', config.optimizer),
             ('wd', config.wd), ('init_sigma', config.init_sigma),
             ('loss', config.loss)]
    named += [(n, getattr(config, n)) for n in ('reg', 'recency')
              if getattr(config, n)]
    if config.recency:
        named.append(('recency_tau', config.recency_tau))
    return ', '.join(f'{option(n)} {v:g}' if isinstance(v, float)
                     else f'{option(n)} {v}' for n, v in named)
