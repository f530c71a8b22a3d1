"""The checks of a run's settings against what they meet, before any
work: `check_fits_data` against the data, `check_resumable` against a
checkpoint (the settings alone: `rules.check_config`). Each raises one
message that names the option and says what would work.
"""
import sys

import numpy

from ..engine.chunking import SCORE_BATCH
from ..metrics import ranked_list_lengths, undefined_metrics
from ..protocol import get_protocol
from .config import RESUMABLE, option, resume_conflicts
from .rules import MAX_SEED, check_config  # noqa: F401  (checked there)


class UsageError(ValueError):
    """Settings that cannot work with this data; found before training."""


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
            from ..engine.sampling import recency_weights
            recency_weights(data.users_train, config.recency,
                            config.recency_tau)
        except ValueError as err:
            raise UsageError(
                f'--recency {config.recency:g} (--recency-tau '
                f'{config.recency_tau:g}) is too large for this data: '
                f'{err}') from None


# What a CPU run holds in memory, measured with /usr/bin/time on 2 AMD
# EPYC cores (docs/GUARANTEES.md): about 0.26 GB for Python, MXNet and
# the libraries; four float32 copies of every parameter with Adam
# (weight, gradient, two moments; three with other optimizers); per
# trained pair about three float32 values per hidden unit and factor
# (outputs kept for the backward pass); and scoring holds two outputs of
# the widest layer for each pair of a batch (`scoring.SCORE_BATCH`).
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
