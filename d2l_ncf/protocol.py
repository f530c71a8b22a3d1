"""The two ways of running the chapter: as printed, and corrected.

Each has its own loop (`book` runs `chapter.train_ranking`; `corrected`
is the plain corrected loop). What they share is one fast evaluator and
one model, and this module holds how those differ between the two: the
model's output, which items are ranked, the cut-off k, how ties are
placed, and the settings each protocol accepts.
"""
import dataclasses
from typing import Optional, Tuple

from .metrics import label as metric_label  # NumPy only: no cycle

# The chapter's hard-coded Hit@k cut-off, and the defaults of the two
# evaluations when k is free: 50 for ranking every unseen item (as the
# chapter), 10 with 99 sampled negatives (the NCF paper's HR@10).
CHAPTER_K = 50
DEFAULT_K = {'full': CHAPTER_K, 'sampled': 10}
EVALS = tuple(DEFAULT_K)  # ('full', 'sampled')


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    # Evaluator: rank items with id < num_users (the chapter's defect) or
    # every item; the Hit@k cut-off fixed at the chapter's 50, or free.
    rank_all_items: bool
    fixed_k: bool
    # Model: the chapter's sigmoid on the prediction layer, or logits.
    sigmoid_output: bool
    # Ties in the ranking: the chapter's order (equal scores by ascending
    # item id, which its printed line depends on) or in expectation, as a
    # random order of the tied items would rank them
    # (`metrics.TIES`).
    ties: str = 'expected'
    # What it accepts: (setting, values allowed, why not otherwise), the
    # settings named as `TrainConfig`'s fields; a setting it does not
    # name takes any value (`refusal` is the one check of them).
    accepts: Tuple[Tuple[str, tuple, str], ...] = ()

    def cutoff(self, k=None, eval='full'):
        """The Hit@k / NDCG@k cut-off: the chapter's 50 when fixed, else
        `k`, else the default of `eval`."""
        if self.fixed_k or k is None:
            return CHAPTER_K if self.fixed_k else DEFAULT_K[eval]
        return k

    def label(self, metric, k):
        """How a result line names `metric` (a `metrics.METRICS` name):
        the book's words as printed, or with its cut-off."""
        return metric_label(metric, None if self.fixed_k else k)

    def refusal(self, config=None, **settings) -> Optional[str]:
        """Why this protocol refuses a setting, or None: the settings of
        `config` (a `TrainConfig`) it names, and `settings` (e.g. an
        evaluator's ``eval`` and ``k``)."""
        for name, allowed, why in self.accepts:
            value = settings.get(name, getattr(config, name, allowed[0]))
            if value not in allowed:
                return why
        return None

    def check(self, config=None, **settings):
        """Raise ValueError saying why, if this protocol refuses them."""
        why = self.refusal(config, **settings)
        if why:
            raise ValueError(why)


# The losses' names (`losses.LOSSES` is keyed by them): the chapter's two
# (d2l's BPRLoss and HingeLossbRec), then the NCF paper's log loss.
CHAPTER_LOSSES = ('bpr', 'hinge')
LOSS_NAMES = CHAPTER_LOSSES + ('log',)

# The chapter's settings, all the book protocol accepts.
CHAPTERS = ("the book protocol is the chapter's: BPR or hinge loss, one "
            "negative, no --reg, --ema or --recency, full ranking, k = "
            f"{CHAPTER_K}; use --protocol corrected")
BOOK_ACCEPTS = (
    ('sparse', (False,),
     "--sparse updates only the embedding rows each batch uses; the book "
     "protocol is the chapter's dense update of every row: use --protocol "
     "corrected"),
    ('loss', CHAPTER_LOSSES, CHAPTERS),
    ('num_neg', (1,), CHAPTERS),
    ('reg', (0,), CHAPTERS),
    ('ema', (0,), CHAPTERS),
    ('recency', (0,), CHAPTERS),
    ('eval', ('full',), CHAPTERS),
    ('k', (None, CHAPTER_K),
     f'the book protocol fixes k = {CHAPTER_K}, as the chapter does; use '
     f'--protocol corrected'),
)

BOOK = Protocol('book', rank_all_items=False, fixed_k=True,
                sigmoid_output=True, ties='id', accepts=BOOK_ACCEPTS)
CORRECTED = Protocol('corrected', rank_all_items=True, fixed_k=False,
                     sigmoid_output=False)
PROTOCOLS = {p.name: p for p in (BOOK, CORRECTED)}


def get_protocol(protocol):
    """A `Protocol` from itself or its name."""
    if isinstance(protocol, Protocol):
        return protocol
    try:
        return PROTOCOLS[protocol]
    except KeyError:
        raise ValueError(f'unknown protocol {protocol!r}: expected one of '
                         f'{sorted(PROTOCOLS)}') from None
