"""Every setting of a run, declared once (default, where it is from, help
text, bounds: `TrainConfig`), and `validate`, the one check of a config:
on its own, and against the data it meets. The command line's options
(`cli`), the record's JSON and a checkpoint's config all derive from
`TrainConfig`'s fields. Each refusal names the option and says what would
work: a `ValueError`, or a `UsageError` when the data decides.
"""
import dataclasses
import json
import math
import sys
import typing
from typing import Optional, Tuple

import numpy

from ..datasets.formats import FIELDS, parse_separator, table_format
from ..datasets.movielens import DATASETS
from ..engine.chunking import EVAL_CHUNK, SCORE_BATCH
from ..engine.optimizers import CANNOT_TRAIN, LAZY_OPTIMIZERS, is_optimizer
from ..engine.sampling import EVAL_NEGATIVES
from ..metrics import ranked_list_lengths, undefined_metrics
from ..protocol import (CHAPTER_K, CORRECTED, DEFAULT_K, EVALS, LOSS_NAMES,
                        PROTOCOLS)

# The models `runs.builders.build` makes (the ablation's table order).
MODELS = ('popularity', 'mf', 'gmf', 'mlp', 'neumf', 'neumf-pre')
# MXNet takes a seed as a C int, NumPy one in [0, 2**32).
MAX_SEED = 2 ** 31 - 1
# MXNet computes in float32: a non-zero value outside [1e-30, 1e38]
# overflows or underflows there (MXNet refuses e.g. --lr 1e308 deep inside
# the optimizer).
FLOAT_LOW, FLOAT_HIGH = 1e-30, 1e38
FLOAT32_OPTIONS = ('init_sigma', 'lr', 'wd', 'reg', 'ema')
# Sizes beyond these exhaust memory or MXNet's int32 tensor sizes long
# before they could train (measured: --num-factors 1e8 hits the int32
# limit, --hiddens 1e8 and --num-neg 1e8 the out-of-memory killer).
MAX_SIZES = {'num_factors': 4096, 'nums_hiddens': 4096, 'num_neg': 1000}


class UsageError(ValueError):
    """Settings that cannot work with this data; found before training."""


def setting(default, help, *, option=None, low=None, above=None,
            below=None, choices=None, flag=False, metavar=None,
            parse=None):
    """A config field with what the command line and `validate` need:
    `help` (with %(default)s), the option name if not the field's, bounds
    (``low <= x``, ``x > above``, ``x < below``), the `choices`, a boolean
    `flag`, and `parse` for text that is not the field's type (e.g. a
    comma-separated list)."""
    return dataclasses.field(default=default, metadata=dict(
        help=help, option=option, low=low, above=above, below=below,
        choices=choices, flag=flag, metavar=metavar, parse=parse))


def columns_of(text):
    return tuple(c.strip() for c in text.split(','))


@dataclasses.dataclass
class TrainConfig:
    protocol: str = setting(  # 'book' reproduces the chapter
        'book', choices=sorted(PROTOCOLS),
        help="'book' reproduces the chapter's numbers, defects included; "
             "'corrected' fixes them (docs/ERRATA.md) (default: "
             "%(default)s)")
    eval: str = setting(  # the chapter's: rank all unseen items
        'full', choices=EVALS,
        help="'full' ranks every unseen item; 'sampled' ranks the test "
             "item among 99 sampled ones (NCF paper; corrected protocol) "
             "(default: %(default)s)")
    # None: the protocol's cut-off (protocol.Protocol.cutoff)
    k: Optional[int] = setting(
        None, low=1,
        help=f"Hit@k and NDCG@k cut-off (default: {CHAPTER_K}, or "
             f"{DEFAULT_K['sampled']} with --eval sampled; the book fixes "
             f"{CHAPTER_K})")
    num_neg: int = setting(  # the chapter's PRDataset: one per positive
        1, low=1, help='negatives per positive (default: %(default)s)')
    eval_negatives: int = setting(  # the NCF paper's sampled negatives
        EVAL_NEGATIVES, low=1,
        help='sampled negatives per user with --eval sampled (default: '
             '%(default)s)')
    eval_chunk: int = setting(  # ours (engine.chunking)
        EVAL_CHUNK, low=1,
        help='pairs (users x items) the evaluator scores and ranks at '
             'once; bounds its memory, not its numbers (default: '
             '%(default)s)')
    reference: bool = setting(  # ours: the fast path gives the same numbers
        False, flag=True,
        help="use the chapter's own PRDataset and evaluate_ranking (slow) "
             "instead of the fast path")
    sparse: bool = setting(  # ours (engine.sparse): moments and decay too
        False, flag=True,
        help='row-sparse embedding gradients and lazy updates: a step '
             'touches only the rows its batch uses (corrected protocol; '
             'adam, sgd or nag)')
    devices: str = setting(  # the chapter's d2l.try_all_gpus()
        'all', help="'all' (GPUs, else CPU), 'cpu', 'cpu:N', 'gpu:0,1' "
                    "(default: %(default)s)")
    num_epochs: int = setting(  # the chapter's value
        10, option='epochs', low=1,
        help='training epochs (default: %(default)s)')
    eval_step: int = setting(  # the chapter's default: every epoch
        1, low=1, help='evaluate every N epochs (default: %(default)s)')
    dataset: str = setting(  # the chapter's MovieLens-100K
        'ml-100k', choices=sorted(DATASETS),
        help="MovieLens set: ml-100k (the chapter's), ml-1m (the NCF "
             "paper's), ml-20m or ml-25m (default: %(default)s)")
    data_dir: Optional[str] = setting(  # else $D2L_NCF_DATA_DIR, download
        None, help='folder holding u.data (ml-100k), ratings.dat (ml-1m) '
                   'or ratings.csv (ml-20m, ml-25m) (default: '
                   '$D2L_NCF_DATA_DIR, $D2L_NCF_ML1M_DIR, '
                   '$D2L_NCF_ML20M_DIR or $D2L_NCF_ML25M_DIR, else '
                   'download)')
    data: Optional[str] = setting(  # ours, with sep and columns
        None, metavar='PATH',
        help='a CSV/TSV file of interactions instead of MovieLens; a '
             'header line is allowed')
    sep: Optional[str] = setting(
        None, help="field separator of --data: ',', 'tab', ';' ... "
                   "(default: tab for .tsv files, else comma)")
    columns: Tuple[str, ...] = setting(
        FIELDS, parse=columns_of,
        help=f"the columns of --data, in order, from {','.join(FIELDS)}; "
             f"user and item required (default: %(default)s)")
    seed: int = setting(  # ours: the chapter seeds nothing
        0, help='seeds the sampler, shuffling and initialisation '
                '(default: %(default)s)')
    num_factors: int = setting(  # the chapter's NeuMF(10, ...)
        10, low=1, help='latent factors (default: %(default)s)')
    nums_hiddens: Tuple[int, ...] = setting(  # the chapter's MLP
        (10, 10, 10), option='hiddens', low=1,
        help='MLP layer sizes (default: 10 10 10)')
    lr: float = setting(  # the chapter's value
        0.01, above=0, help='learning rate (default: %(default)s)')
    wd: float = setting(  # the chapter's value
        1e-5, low=0, help='weight decay (default: %(default)s)')
    reg: float = setting(  # ours (model.embedding_l2); 0 as the chapter
        0.0, low=0, help='L2 penalty on the embedding rows each batch '
                         'uses (corrected protocol) (default: %(default)s)')
    ema: float = setting(  # ours (engine.averaging); 0: off
        0.0, low=0, below=1,
        help='evaluate a moving average of the weights with this decay per '
             'batch, e.g. 0.99 (corrected protocol; default: %(default)s, '
             'off)')
    # Ours (sampling.recency_weights, scaled to average 1): the test item
    # is each user's latest, and what a user rated last says most of it.
    recency: float = setting(
        0.0, low=0,
        help="weigh each user's latest training interactions more: 1 + "
             "RECENCY * exp(-r / TAU) for an interaction followed by r "
             "more of the user's (corrected protocol, log loss; default: "
             "%(default)s, off)")
    recency_tau: float = setting(
        10.0, above=0, metavar='TAU',
        help='how fast the recency weight fades, in interactions '
             '(default: %(default)s)')
    optimizer: str = setting(  # the chapter's value
        'adam', help='a gluon optimizer name (default: %(default)s)')
    batch_size: int = setting(  # the chapter's value
        1024, low=1, help='(default: %(default)s)')
    # the chapter's d2l.BPRLoss(); 'hinge' is its HingeLossbRec, 'log' the
    # NCF paper's pointwise log loss (corrected protocol only)
    loss: str = setting('bpr', choices=LOSS_NAMES,
                        help='(default: %(default)s)')
    init_sigma: float = setting(  # the chapter's mx.init.Normal(0.01)
        0.01, above=0,
        help='std of the Normal initialiser (default: %(default)s)')
    # Ours: the chapter's 4 workers draw negatives in an order no seed
    # fixes; 0 keeps a seeded run repeatable (the printed numbers agree).
    num_workers: int = setting(
        0, low=0, help='DataLoader worker processes (default: %(default)s; '
                       'the chapter uses 4)')
    # Ours: NeuMF's parts and baselines; neumf-pre starts from a trained
    # gmf and mlp, which only the ablation trains first.
    model: str = setting(
        'neumf', choices=MODELS,
        help="neumf (the chapter's), or a baseline of baselines.py: mf, "
             "gmf, mlp (corrected protocol) (default: %(default)s)")

    def __post_init__(self):  # a list where a tuple belongs (JSON, users)
        for name in ('nums_hiddens', 'columns'):
            if isinstance(getattr(self, name), list):
                setattr(self, name, tuple(getattr(self, name)))

    @property
    def cutoff(self):
        """The resolved Hit@k / NDCG@k cut-off (the protocol's rule)."""
        return PROTOCOLS[self.protocol].cutoff(self.k, self.eval)

    def validate(self, data=None):
        """`validate(self, data)`; returns self."""
        return validate(self, data)


FIELDS_BY_NAME = {f.name: f for f in dataclasses.fields(TrainConfig)}


def option(name):
    """The command-line option that sets config field `name`."""
    meta = FIELDS_BY_NAME[name].metadata
    return '--' + (meta['option'] or name).replace('_', '-')


def config_dict(config):
    """`config` as JSON types."""
    return dict(dataclasses.asdict(config),
                nums_hiddens=list(config.nums_hiddens),
                columns=list(config.columns))


def config_from_dict(saved, where='the config'):
    """The `TrainConfig` a record or checkpoint's config.json holds,
    validated as a typed one is; a setting added since it was written
    gets its default. A ValueError names `where` and the setting."""
    if not isinstance(saved, dict):
        raise ValueError(f'{where}: expected an object of settings')
    try:
        return validate(TrainConfig(**{k: v for k, v in saved.items()
                                       if k in FIELDS_BY_NAME}))
    except ValueError as err:
        raise ValueError(f'{where}: {err} (was the file edited?)') from None


def expected_type(name, value):
    """What field `name` expects if `value` is not one, else None (JSON
    or a Python caller: "4" where 4 belongs would fail deep in MXNet)."""
    kind = FIELDS_BY_NAME[name].type
    args = typing.get_args(kind)
    if value is None and type(None) in args:
        return None
    if typing.get_origin(kind) is tuple:  # Tuple[int, ...], Tuple[str, ...]
        if isinstance(value, tuple) and value and all(
                expected_type_of(args[0], v) is None for v in value):
            return None
        return f'a list of one or more {args[0].__name__}s'
    return expected_type_of(next((a for a in args if a is not type(None)),
                                 kind), value)


def expected_type_of(kind, value):
    """What `value` should be to be a `kind` (int, float, str, bool), or
    None if it is one (a whole number is a float too)."""
    number = isinstance(value, (int, float, numpy.integer, numpy.floating))
    ok = (isinstance(value, bool) if kind is bool else
          number and not isinstance(value, bool) if kind is float else
          isinstance(value, (int, numpy.integer))
          and not isinstance(value, bool) if kind is int
          else isinstance(value, kind))
    return None if ok else {int: 'a whole number', float: 'a number',
                            str: 'a string', bool: 'true or false'}[kind]


def shown(value):
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + '...'


def validate(config, data=None):
    """Raise ValueError naming the first setting of `config` that cannot
    work (a `UsageError` for one `data`, if given, cannot take); returns
    `config`."""
    for name, field in FIELDS_BY_NAME.items():
        value = getattr(config, name)
        why = expected_type(name, value)
        if why:
            raise ValueError(f'{name} is {shown(value)}, expected {why}')
        check_bounds(name, field.metadata, value)
    for name in FLOAT32_OPTIONS:
        value = getattr(config, name)
        if value and not FLOAT_LOW <= abs(value) <= FLOAT_HIGH:
            zero = '0 or ' if name in ('wd', 'reg', 'ema') else ''
            raise ValueError(
                f'{option(name)} {value:g} is outside what MXNet\'s float32 '
                f'arithmetic takes: use {zero}a value from {FLOAT_LOW:g} to '
                f'{FLOAT_HIGH:g}')
    for name, most in MAX_SIZES.items():
        value = getattr(config, name)
        if max(value if isinstance(value, tuple) else (value,)) > most:
            text = layers(value) if isinstance(value, tuple) else value
            raise ValueError(f'{option(name)} {text}: at most {most} (larger '
                             f'sizes exhaust memory before they train)')
    if not 0 <= config.seed <= MAX_SEED:
        raise ValueError(f'--seed must be a whole number from 0 to '
                         f'{MAX_SEED} (the range NumPy and MXNet both take '
                         f'as it is), got {config.seed}')
    if config.optimizer.lower() in CANNOT_TRAIN:
        raise ValueError(f'--optimizer {config.optimizer}: '
                         f'{CANNOT_TRAIN[config.optimizer.lower()]}')
    PROTOCOLS[config.protocol].check(config)
    for ok, message in [
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
             f"--sparse needs an optimizer whose MXNet update of a "
             f"row-sparse gradient is lazy (only the rows a batch used "
             f"move): {', '.join(LAZY_OPTIMIZERS)}; MXNet's "
             f"{config.optimizer} is not"),
            (config.model == 'neumf' or config.protocol == CORRECTED.name,
             f"--model {config.model}: the book protocol is the chapter's "
             f"NeuMF; use --protocol corrected"),
            (config.model == 'neumf' or not (config.reference
                                             or config.sparse),
             f"--model {config.model}: --reference and --sparse are "
             f"NeuMF's (the chapter's code; row-sparse NeuMF embeddings)")]:
        if not ok:
            raise ValueError(message)
    if not is_optimizer(config.optimizer):
        raise ValueError(f'unknown optimizer {config.optimizer!r}: expected '
                         f'a gluon optimizer name such as adam, sgd, nag, '
                         f'rmsprop, adagrad')
    if config.data is not None:
        table_format(parse_separator(',' if config.sep is None
                                     else config.sep), config.columns)
    if data is not None:
        check_fits_data(config, data)
    return config


def check_bounds(name, meta, value):
    """Refuse `value` outside field `name`'s declared choices or bounds
    (inf and nan included: they pass any comparison)."""
    values = value if isinstance(value, tuple) else (value,)
    choices = meta['choices']
    if choices and value not in choices:
        extra = ', or a file (--data)' if name == 'dataset' else ''
        raise ValueError(f'{option(name)} {value!r}: expected one of '
                         f'{", ".join(choices)}{extra}')
    if not all(type(v) in (int, float) for v in values):
        return  # text, a flag, None
    rules = [(f'{sign} {meta[key]}', test) for key, sign, test in (
        ('low', '>=', lambda v, b: v >= b), ('above', '>', lambda v, b: v > b),
        ('below', '<', lambda v, b: v < b)) if meta[key] is not None]
    if all(math.isfinite(v) and all(test(v, float(rule.split()[1]))
                                    for rule, test in rules) for v in values):
        return
    what = 'one or more sizes' if isinstance(value, tuple) else (
        'a whole number' if isinstance(value, int) else 'a finite number')
    bounds = ''.join(' ' + ' and '.join(rule for rule, _ in rules))
    raise ValueError(f'{option(name)} must be {what}{bounds.rstrip()}, got '
                     f'{layers(value) if isinstance(value, tuple) else value}')


def layers(sizes):
    """--hiddens in words, short: '10 10 10' or '40 layers of up to
    4096'."""
    if len(sizes) <= 4:
        return ' '.join(map(str, sizes))
    return f'{len(sizes)} layers of up to {max(sizes)}'


# Settings a resumed run may change: they do not alter the training.
RESUMABLE = ('num_epochs', 'eval_step', 'data_dir', 'data', 'num_workers',
             'eval_chunk')


def check_resumable(checkpoint, config):
    """Refuse to continue a checkpoint with other settings (ValueError)
    or for no more epochs (`UsageError`)."""
    saved = config_dict(config_from_dict(checkpoint['config']))
    mine = config_dict(config)
    differ = [f'{k} {mine[k]!r} (checkpoint: {saved.get(k)!r})'
              for k in mine if k not in RESUMABLE and mine[k] != saved.get(k)]
    if differ:
        raise ValueError(
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


def check_fits_data(config, data, memory=True):
    """Settings that depend on the data's size, checked before training
    (with `memory`, the memory they need too)."""
    if memory:
        check_memory(config, data.num_users, data.num_items)
    if config.k is not None and config.k > data.num_items:
        raise UsageError(f'--k {config.k} is larger than the '
                         f'{data.num_items} items of the data')
    if config.model != 'popularity' and config.batch_size > len(
            data.users_train):
        raise UsageError(
            f'--batch-size {config.batch_size} is larger than the '
            f'{len(data.users_train)} training interactions: an epoch would '
            f'hold no batch')
    if not PROTOCOLS[config.protocol].rank_all_items and (
            data.num_users > data.num_items):
        raise UsageError(
            f"the book protocol ranks the item indices below the number of "
            f"users, as the chapter's code does; this data has "
            f"{data.num_users} users but {data.num_items} items, so that "
            f"would index past the item table: use --protocol corrected")
    default = ' (the default)' if config.k is None else ''
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
                f'--k {config.cutoff}{default} is at or above the '
                f'{config.eval_negatives + 1} items of each sampled list '
                f'(--eval-negatives {config.eval_negatives} and the held-out '
                f'item): every hit would be certain; use --k '
                f'{config.eval_negatives} or less, or more --eval-negatives')
    else:
        check_full_ranking(config, data, default)
    if config.recency:
        try:
            from ..engine.sampling import recency_weights
            recency_weights(data.users_train, config.recency,
                            config.recency_tau)
        except ValueError as err:
            raise UsageError(
                f'--recency {config.recency:g} (--recency-tau '
                f'{config.recency_tau:g}) is too large for this data: '
                f'{err}') from None


def check_full_ranking(config, data, default=''):
    """Refuse a full ranking whose metrics are undefined or certain; under
    the book protocol, whose k = 50 is the chapter's, say so instead."""
    protocol = PROTOCOLS[config.protocol]
    user_ids = sorted(data.test_iter)
    num_ranked = (data.num_items if protocol.rank_all_items
                  else data.num_users)
    lengths, listed = ranked_list_lengths(user_ids, data.candidates,
                                          data.test_iter, num_ranked)
    name = ((lambda u: str(data.user_ids[u])) if data.user_ids is not None
            else (lambda u: f'index {u}'))
    why = undefined_metrics(lengths, listed, config.cutoff,
                            protocol.fixed_k, user_ids, name,
                            f'--k {config.cutoff}{default}')
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


# What a CPU run holds in memory, measured with /usr/bin/time on 2 AMD
# EPYC cores (docs/GUARANTEES.md): about 0.26 GB for Python, MXNet and
# the libraries; four float32 copies of every parameter with Adam
# (weight, gradient, two moments; three with other optimizers); per
# trained pair about three float32 values per hidden unit and factor
# (outputs kept for the backward pass); and scoring holds two outputs of
# the widest layer for each pair of a batch (`chunking.SCORE_BATCH`).
BASE_BYTES = 0.26e9
ADAM_LIKE = ('adam', 'nadam', 'adamax', 'lamb', 'ftml')
ACTIVATION_COPIES = 3
SCORE_PAIRS = SCORE_BATCH  # pairs per forward call of the scorer


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
