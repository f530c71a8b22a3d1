"""Every setting of a run, in one place, with where each default is from."""
import dataclasses
import math
import random
from typing import Optional, Tuple

import mxnet as mx
import numpy

from . import losses, ranking, sparse
from .data import DATASETS
from .datasets import FIELDS, parse_separator, table_format
from .protocol import PROTOCOLS

LOSSES = tuple(losses.LOSSES)  # ('bpr', 'hinge', 'log')
EVALS = ranking.EVALS  # ('full', 'sampled')
# MXNet takes a seed as a C int, NumPy one in [0, 2**32): beyond both,
# seeds would wrap or be refused after the data is read.
MAX_SEED = 2 ** 31 - 1
FLOAT_OPTIONS = ('init_sigma', 'lr', 'wd', 'reg', 'ema', 'recency',
                 'recency_tau')
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


@dataclasses.dataclass
class TrainConfig:
    num_factors: int = 10  # the chapter's NeuMF(10, ...)
    nums_hiddens: Tuple[int, ...] = (10, 10, 10)  # the chapter's MLP
    init_sigma: float = 0.01  # the chapter's mx.init.Normal(0.01)
    optimizer: str = 'adam'  # the chapter's value
    lr: float = 0.01  # the chapter's value
    wd: float = 1e-5  # the chapter's value
    # Ours: L2 penalty on the embedding rows each batch uses (corrected
    # protocol; model.embedding_l2); 0 adds nothing, as in the chapter.
    reg: float = 0.0
    # Ours: evaluate a moving average of the weights, with this decay per
    # batch (averaging.WeightAverage; corrected protocol); 0: off.
    ema: float = 0.0
    # Ours: weigh each user's latest training interactions more: an
    # example followed by r more of its user's weighs 1 + recency *
    # exp(-r / recency_tau), scaled to average 1 (sampling.recency_
    # weights; corrected protocol, log loss). The test item is each user's
    # latest, and what a user rated last says most about it. 0: off.
    recency: float = 0.0
    recency_tau: float = 10.0
    # Ours: row-sparse gradients for the four embeddings and a lazy
    # optimizer update: a step reads and writes only the rows its batch
    # used, Adam's moments and weight decay included (sparse.py;
    # corrected protocol, optimizers adam, sgd or nag).
    sparse: bool = False
    batch_size: int = 1024  # the chapter's value
    num_epochs: int = 10  # the chapter's value
    # the chapter's d2l.BPRLoss(); 'hinge' is its HingeLossbRec, 'log' the
    # NCF paper's pointwise log loss (corrected protocol only)
    loss: str = 'bpr'
    num_neg: int = 1  # negatives per positive: the chapter's PRDataset
    protocol: str = 'book'  # 'book' reproduces the chapter; 'corrected'
    eval: str = 'full'  # rank all unseen items; 'sampled': 99, NCF paper
    # Hit@k / NDCG@k cut-off; None: 50 (the chapter's hard-coded value),
    # or 10 with eval='sampled' (the NCF paper's HR@10)
    k: Optional[int] = None
    eval_negatives: int = 99  # the NCF paper's sampled negatives per user
    # Ours: the evaluator scores and ranks at most this many (user, item)
    # pairs at once (ranking.EVAL_CHUNK); the metrics do not depend on it.
    eval_chunk: int = 1 << 22
    # Ours: the chapter's own PRDataset and evaluate_ranking (slow) instead
    # of the vectorised sampler and evaluator, which give the same numbers.
    reference: bool = False
    eval_step: int = 1  # the chapter's default: evaluate every epoch
    devices: str = 'all'  # the chapter's d2l.try_all_gpus()
    seed: int = 0  # ours: the chapter seeds nothing
    # Ours: the chapter uses d2l.get_dataloader_workers() (4). With worker
    # processes the negatives depend on which worker draws them, so the
    # default 0 keeps a seeded run repeatable. The printed numbers agree.
    num_workers: int = 0
    # The chapter's MovieLens-100K; 'ml-1m' is the NCF paper's data set.
    dataset: str = 'ml-100k'
    data_dir: Optional[str] = None  # else $D2L_NCF_DATA_DIR, else download
    # Ours: any CSV/TSV of interactions instead of MovieLens, its field
    # separator (None: tab for .tsv, else comma) and its columns in order.
    data: Optional[str] = None
    sep: Optional[str] = None
    columns: Tuple[str, ...] = FIELDS

    @property
    def cutoff(self):
        """The resolved Hit@k / NDCG@k cut-off."""
        if self.k is not None:
            return self.k
        return 10 if self.eval == 'sampled' else 50

    def validate(self):
        """Raise ValueError naming the first setting that cannot work."""
        for name in FLOAT_OPTIONS:  # inf or nan passes every bound below
            value = getattr(self, name)
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
            value = getattr(self, name)
            if max(value if isinstance(value, tuple) else (value,),
                   default=0) > most:
                shown = (' '.join(map(str, value)) if isinstance(value, tuple)
                         else value)
                raise ValueError(f'{option(name)} {shown}: at most {most} '
                                 f'(larger sizes exhaust memory before '
                                 f'they train)')
        checks = [
            (0 <= self.seed <= MAX_SEED and self.seed == int(self.seed),
             f'--seed must be a whole number from 0 to {MAX_SEED} (the '
             f'range NumPy and MXNet both take as it is), got '
             f'{self.seed}'),
            (self.optimizer.lower() not in CANNOT_TRAIN,
             f'--optimizer {self.optimizer}: '
             f'{CANNOT_TRAIN.get(self.optimizer.lower())}'),
            (self.num_factors >= 1, 'num_factors must be >= 1'),
            (len(self.nums_hiddens) >= 1
             and all(h >= 1 for h in self.nums_hiddens),
             'nums_hiddens must be one or more sizes >= 1'),
            (self.init_sigma > 0, 'init_sigma must be > 0'),
            (self.lr > 0, 'lr must be > 0'),
            (self.wd >= 0, 'wd must be >= 0'),
            (self.reg >= 0, 'reg must be >= 0'),
            (0 <= self.ema < 1, 'ema must be >= 0 and < 1'),
            (self.recency >= 0, 'recency must be >= 0'),
            (self.recency_tau > 0, 'recency_tau must be > 0'),
            (self.batch_size >= 1, 'batch_size must be >= 1'),
            (self.num_epochs >= 1, 'num_epochs must be >= 1'),
            (self.eval_step >= 1, 'eval_step must be >= 1'),
            (self.num_workers >= 0, 'num_workers must be >= 0'),
            (self.loss in LOSSES, f'loss must be one of {LOSSES}'),
            (self.num_neg >= 1, 'num_neg must be >= 1'),
            (self.protocol in PROTOCOLS,
             f'protocol must be one of {sorted(PROTOCOLS)}'),
            (self.eval in EVALS, f'eval must be one of {EVALS}'),
            (self.k is None or self.k >= 1, 'k must be >= 1'),
            (self.eval_negatives >= 1, 'eval_negatives must be >= 1'),
            (self.eval_chunk >= 1, 'eval_chunk must be >= 1'),
            (self.protocol != 'book' or (
                self.loss != 'log' and self.num_neg == 1 and self.reg == 0
                and self.ema == 0 and self.recency == 0
                and self.eval == 'full' and self.k in (None, 50)),
             "the book protocol is the chapter's: BPR or hinge loss, one "
             "negative, no --reg, --ema or --recency, full ranking, "
             "k = 50; use --protocol corrected"),
            (not (self.sparse and self.protocol == 'book'),
             "--sparse updates only the embedding rows each batch uses; "
             "the book protocol is the chapter's dense update of every "
             "row: use --protocol corrected"),
            (not self.sparse
             or self.optimizer.lower() in sparse.LAZY_OPTIMIZERS,
             f"--sparse needs an optimizer whose MXNet update of a "
             f"row-sparse gradient is lazy (only the rows a batch used "
             f"move): {', '.join(sparse.LAZY_OPTIMIZERS)}; "
             f"MXNet's {self.optimizer} is not"),
            (self.recency == 0 or self.loss == 'log',
             "--recency weighs each example's loss, which needs --loss "
             "log (the chapter's BPR and hinge losses sum the batch and "
             "take no weights)"),
            (not (self.reference and self.recency),
             "the chapter's PRDataset (--reference) has no per-example "
             "weights; --recency needs the fast sampler"),
            (not (self.reference and self.eval == 'sampled'),
             "the chapter's evaluator (--reference) ranks all unseen items; "
             "--eval sampled has no reference version"),
            (not (self.reference and self.num_neg != 1),
             "the chapter's PRDataset (--reference) draws one negative"),
            (self.optimizer.lower() in mx.optimizer.Optimizer.opt_registry,
             f'unknown optimizer {self.optimizer!r}: expected a gluon '
             f'optimizer name such as adam, sgd, nag, rmsprop, adagrad'),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.dataset not in DATASETS:
            raise ValueError(f'unknown dataset {self.dataset!r}: expected '
                             f'one of {sorted(DATASETS)}, or a file (data)')
        if self.data is not None:
            table_format(parse_separator(self.sep or ','), self.columns)
        return self


def seed_everything(seed):
    """Seed Python's, NumPy's and MXNet's generators (all contexts).

    Python's `random` draws the chapter's negatives, NumPy's shuffles the
    DataLoader, MXNet's initialises the parameters.
    """
    random.seed(seed)
    numpy.random.seed(seed)
    mx.random.seed(seed)


def option(name):
    """The command-line option that sets config field `name`."""
    name = {'nums_hiddens': 'hiddens', 'num_epochs': 'epochs'}.get(name,
                                                                   name)
    return '--' + name.replace('_', '-')
