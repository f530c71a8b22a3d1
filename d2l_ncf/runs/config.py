"""Every setting of a run, declared once: default, where it is from,
help text and bounds. The command line's options (`cli`), the mapping
from parsed arguments, the checks (`rules.check_config`) and the
record's JSON all derive from `TrainConfig`'s fields. Beside it: how a
config is saved and read back, and which settings a resumed run may
change.
"""
import dataclasses
import typing
from typing import Optional, Tuple

from ..datasets.formats import FIELDS
from ..datasets.movielens import DATASETS
from ..engine.chunking import EVAL_CHUNK
from ..engine.sampling import EVAL_NEGATIVES
from ..protocol import CHAPTER_K, DEFAULT_K, EVALS, LOSS_NAMES, PROTOCOLS
from .rules import check_config, option as field_option


DATASET_NAMES = tuple(DATASETS)


def setting(default, help, *, option=None, low=None, above=None,
            below=None, choices=None, flag=False, metavar=None,
            parse=None):
    """A config field with what the command line and the checks need:
    `help` (argparse's, with %(default)s), the option name if not the
    field's, bounds (``low <= x``, ``x > above``, ``x < below``), the
    `choices`, a boolean `flag`, and `parse` for text that is not the
    field's type (e.g. a comma-separated list)."""
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
    # Ours: at most this many (user, item) pairs are scored and ranked at
    # once (engine.chunking.EVAL_CHUNK); the metrics do not depend on it.
    eval_chunk: int = setting(
        EVAL_CHUNK, low=1,
        help='pairs (users x items) the evaluator scores and ranks at '
             'once; bounds its memory, not its numbers (default: '
             '%(default)s)')
    # Ours: the chapter's own PRDataset and evaluate_ranking (slow) instead
    # of the vectorised sampler and evaluator, which give the same numbers.
    reference: bool = setting(
        False, flag=True,
        help="use the chapter's own PRDataset and evaluate_ranking (slow) "
             "instead of the fast path")
    # Ours: row-sparse gradients for the four embeddings and a lazy
    # optimizer update: a step reads and writes only the rows its batch
    # used, Adam's moments and weight decay included (sparse.py;
    # corrected protocol, optimizers adam, sgd or nag).
    sparse: bool = setting(
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
    # The chapter's MovieLens-100K; 'ml-1m' is the NCF paper's data set.
    dataset: str = setting(
        'ml-100k', choices=sorted(DATASET_NAMES),
        help="MovieLens set: ml-100k (the chapter's), ml-1m (the NCF "
             "paper's), ml-20m or ml-25m (default: %(default)s)")
    data_dir: Optional[str] = setting(  # else $D2L_NCF_DATA_DIR, download
        None, help='folder holding u.data (ml-100k), ratings.dat (ml-1m) '
                   'or ratings.csv (ml-20m, ml-25m) (default: '
                   '$D2L_NCF_DATA_DIR, $D2L_NCF_ML1M_DIR, '
                   '$D2L_NCF_ML20M_DIR or $D2L_NCF_ML25M_DIR, else '
                   'download)')
    # Ours: any CSV/TSV of interactions instead of MovieLens, its field
    # separator (None: tab for .tsv, else comma) and its columns in order.
    data: Optional[str] = setting(
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
    # Ours: L2 penalty on the embedding rows each batch uses (corrected
    # protocol; model.embedding_l2); 0 adds nothing, as in the chapter.
    reg: float = setting(
        0.0, low=0, help='L2 penalty on the embedding rows each batch '
                         'uses (corrected protocol) (default: %(default)s)')
    # Ours: evaluate a moving average of the weights, with this decay per
    # batch (averaging.WeightAverage; corrected protocol); 0: off.
    ema: float = setting(
        0.0, low=0, below=1,
        help='evaluate a moving average of the weights with this decay per '
             'batch, e.g. 0.99 (corrected protocol; default: %(default)s, '
             'off)')
    # Ours: weigh each user's latest training interactions more: an
    # example followed by r more of its user's weighs 1 + recency *
    # exp(-r / recency_tau), scaled to average 1 (sampling.recency_
    # weights; corrected protocol, log loss). The test item is each user's
    # latest, and what a user rated last says most about it. 0: off.
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
    # Ours: the chapter uses d2l.get_dataloader_workers() (4). With worker
    # processes the negatives depend on which worker draws them, so the
    # default 0 keeps a seeded run repeatable. The printed numbers agree.
    num_workers: int = setting(
        0, low=0, help='DataLoader worker processes (default: %(default)s; '
                       'the chapter uses 4)')

    @property
    def cutoff(self):
        """The resolved Hit@k / NDCG@k cut-off (the protocol's rule)."""
        return PROTOCOLS[self.protocol].cutoff(self.k, self.eval)

    def validate(self):
        """Raise ValueError naming the first setting that cannot work."""
        check_config(self)
        return self


def option(name):
    """The command-line option that sets config field `name`."""
    return field_option(FIELDS_BY_NAME[name])


FIELDS_BY_NAME = {f.name: f for f in dataclasses.fields(TrainConfig)}


def config_dict(config):
    """`config` as JSON types."""
    return dict(dataclasses.asdict(config),
                nums_hiddens=list(config.nums_hiddens),
                columns=list(config.columns))


def type_error(name, value):
    """Why JSON value `value` cannot be field `name`'s, or None (a
    hand-edited file: "4" where 4 belongs would fail deep in MXNet)."""
    kind = FIELDS_BY_NAME[name].type
    args = typing.get_args(kind)
    if value is None and type(None) in args:
        return None
    if typing.get_origin(kind) is tuple:  # Tuple[int, ...], Tuple[str, ...]
        if isinstance(value, list) and all(
                type_error_of(args[0], v) is None for v in value):
            return None
        return f'a list of {args[0].__name__}s'
    kind = next((a for a in args if a is not type(None)), kind)
    return type_error_of(kind, value)


def type_error_of(kind, value):
    """What `value` should be to be a `kind` (int, float, str, bool), or
    None if it is one (a JSON whole number is a float too)."""
    ok = (isinstance(value, bool) if kind is bool else
          isinstance(value, (int, float)) and not isinstance(value, bool)
          if kind is float else
          isinstance(value, int) and not isinstance(value, bool)
          if kind is int else isinstance(value, kind))
    return None if ok else {int: 'a whole number', float: 'a number',
                            str: 'a string', bool: 'true or false'}[kind]


def config_from_dict(saved, where='the config'):
    """The `TrainConfig` a record or checkpoint's config.json holds; a
    setting added since it was written gets its default. A value of the
    wrong type is a ValueError naming the field and `where`."""
    if not isinstance(saved, dict):
        raise ValueError(f'{where}: expected an object of settings')
    for name, value in saved.items():
        why = name in FIELDS_BY_NAME and type_error(name, value)
        if why:
            raise ValueError(f'{where}: {name} is {json_text(value)}, '
                             f'expected {why} (was the file edited?)')
    values = {k: v for k, v in saved.items() if k in FIELDS_BY_NAME}
    values['nums_hiddens'] = tuple(values.get('nums_hiddens', ()))
    if 'columns' in values:
        values['columns'] = tuple(values['columns'])
    return TrainConfig(**values)


def json_text(value):
    import json
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + '...'


# Settings a resumed run may change: they do not alter the training.
RESUMABLE = ('num_epochs', 'eval_step', 'data_dir', 'data', 'num_workers',
             'eval_chunk')


def resume_conflicts(saved, config):
    """The settings of `config` that differ from checkpoint config `saved`
    (a dict) where a resumed run may not change them."""
    saved = config_dict(config_from_dict(saved))
    mine = config_dict(config)
    return [f'{k} {mine[k]!r} (checkpoint: {saved.get(k)!r})'
            for k in mine if k not in RESUMABLE and mine[k] != saved.get(k)]
