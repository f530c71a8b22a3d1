"""The pairwise ranking losses of the previous section (d2l 16.5).

d2l 1.0.3 ships them verbatim; we re-export them so the chapter's
``d2l.BPRLoss()`` reads ``d2l_ncf.BPRLoss()``.
"""
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from d2l import mxnet as d2l
import mxnet as mx
from mxnet import gluon

from .engine.step import PairwiseObjective, bpr, hinge, log
from .protocol import LOSS_NAMES

BPRLoss = d2l.BPRLoss
HingeLossbRec = d2l.HingeLossbRec


class LogLoss(gluon.loss.Loss):
    """The NCF paper's pointwise log loss, on logits, summed.

    Positives are labelled 1 and negatives 0: ``-log sigmoid(pos)
    - sum log(1 - sigmoid(neg))``, written with softplus so it stays
    finite for large logits (`log`). ``negative`` may hold several per
    positive. ``sample_weight`` (one per positive, optional) weighs each
    positive's terms and its negatives'.
    """
    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super(LogLoss, self).__init__(weight=None, batch_axis=0, **kwargs)

    def forward(self, positive, negative, sample_weight=None):
        if sample_weight is None:
            return log(mx.nd, positive, negative)
        w = sample_weight.reshape(-1, 1)
        return log(mx.nd, positive.reshape(-1, 1),
                   negative.reshape(w.shape[0], -1), w)


LOSSES = dict(zip(LOSS_NAMES, (BPRLoss, HingeLossbRec, LogLoss)))
PairwiseObjective.KINDS[LogLoss] = 'log'  # the compiled step knows it


class ChapterObjective(gluon.HybridBlock):
    """The chapter's step compiled as one graph (the book protocol's).

    The net scores the positives, then the negatives, in two calls, and
    the chapter's loss follows: the same operators on the same shapes as
    the chapter's imperative calls, so the same loss and gradients bit for
    bit, with one compiled graph per device instead of a dozen operator
    calls (about 1.4x the chapter's steps per second; tests/
    test_fused_step.py checks the bits). Takes users, items and
    negatives, each (batch,).

    The users enter the graph twice: given once, MXNet would see two
    lookups of the same rows, merge them into one, and sum their
    gradients in another order, which moves the last bits.
    """
    KINDS = {BPRLoss: 'bpr', HingeLossbRec: 'hinge'}

    def __init__(self, net, loss, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.kind = self.KINDS[type(loss)]

    @classmethod
    def supports(cls, loss):
        """Whether `loss` is one of the chapter's, which this graph writes
        with the chapter's operators."""
        return type(loss) in cls.KINDS

    def forward(self, users, items, negatives):
        return super().forward(users, items, users, negatives)

    def hybrid_forward(self, F, users, items, users_again, negatives):
        # d2l's BPRLoss and HingeLossbRec, operator for operator
        distances = self.net(users, items) - self.net(users_again, negatives)
        if self.kind == 'bpr':
            return bpr(F, distances, axis=0, keepdims=True)
        return hinge(F, distances)


def compiled_objective(protocol, net, loss, values):
    """The compiled graph a batch like `values` trains through, or None
    for the chapter's operator-by-operator calls.

    Corrected protocol: `PairwiseObjective`, one call of the net
    for positives and negatives. Book protocol: `ChapterObjective`,
    the chapter's two calls in one graph, equal bit for bit; only for a
    hybridized net (``--reference`` runs the chapter's code as printed),
    the chapter's losses, and its batches (one negative each, no
    weights).
    """
    if protocol.fused_step:  # a plain Block cannot join a graph
        return (fused_objective(net, loss, values[2])
                if PairwiseObjective.supports(loss)
                and isinstance(net, gluon.HybridBlock) else None)
    if not (getattr(net, '_active', False)  # hybridized
            and ChapterObjective.supports(loss)
            and len(values) == 3 and values[2].ndim == 1):
        return None
    step = ChapterObjective(net, loss)
    step.hybridize(static_alloc=True, static_shape=True)
    return step


def fused_objective(net, loss, negatives):
    """`PairwiseObjective` for batches whose negatives look like
    `negatives`, compiled with static memory and shapes."""
    num_neg = 1 if negatives.ndim == 1 else negatives.shape[1]
    step = PairwiseObjective(net, loss, num_neg)
    step.hybridize(static_alloc=True, static_shape=True)
    return step
