"""The pairwise ranking losses of the previous section (d2l 16.5).

d2l 1.0.3 ships them verbatim; we re-export them so the chapter's
``d2l.BPRLoss()`` reads ``d2l_ncf.BPRLoss()``.
"""
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from d2l import mxnet as d2l
import mxnet as mx
from mxnet import gluon

from .protocol import LOSS_NAMES

BPRLoss = d2l.BPRLoss
HingeLossbRec = d2l.HingeLossbRec


# Each loss's formula, once, for imperative calls (F: mxnet.ndarray) and
# for the compiled steps (F: mxnet.symbol). `bpr` and `hinge` are d2l's
# BPRLoss and HingeLossbRec, operator for operator, on score differences;
# `sum_args` is the sum's axis (d2l's: 0, keepdims=True; a compiled step
# sums its whole batch). `log` is the NCF paper's, with softplus.
def bpr(F, distances, **sum_args):
    """-sum log sigmoid(distances)."""
    return -F.np.sum(F.np.log(F.npx.sigmoid(distances)), **sum_args)


def hinge(F, distances, margin=1):
    """sum max(margin - distances, 0)."""
    return F.np.sum(F.np.maximum(-distances + margin, 0))


def log(F, positive, negative, weights=None):
    """-log sigmoid(pos) - sum log(1 - sigmoid(neg)), summed, with each
    positive's terms and its negatives' weighed by `weights` (batch, 1)
    when given (then positive (batch, 1), negative (batch, num_neg))."""
    softplus = lambda x: F.npx.activation(x, act_type='softrelu')  # noqa
    if weights is None:
        return F.np.sum(softplus(-positive)) + F.np.sum(softplus(negative))
    return (F.np.sum(weights * softplus(-positive))
            + F.np.sum(weights * softplus(negative)))


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


class PairwiseObjective(gluon.HybridBlock):
    """A batch's summed loss in one graph, positives and negatives scored
    by one call of `net` (the corrected protocol's fast step).

    Takes users (batch,), items (batch,), negatives (batch,) or (batch,
    num_neg) and optionally one weight per example (`LogLoss` only).
    The items are joined as ``[positives, 1st negatives, 2nd, ...]`` and
    the users tiled to match, so the network sees one batch of
    ``batch * (1 + num_neg)`` pairs; the loss is then the same formula as
    the class `loss` names, summed to one number. A larger batch changes
    the kernels' summation order, hence the last bits: the book protocol
    keeps its separate calls.
    """
    KINDS = {BPRLoss: 'bpr', HingeLossbRec: 'hinge', LogLoss: 'log'}

    def __init__(self, net, loss, num_neg, **kwargs):
        super().__init__(**kwargs)
        self.net, self.num_neg = net, num_neg
        self.kind = self.KINDS[type(loss)]

    @classmethod
    def supports(cls, loss):
        """Whether `loss` is one this graph knows how to write."""
        return type(loss) in cls.KINDS

    def hybrid_forward(self, F, users, items, negatives, weights=None):
        k = self.num_neg
        if k > 1:  # the 1st negatives, then the 2nd, ...
            negatives = negatives.reshape(-1, k).T.reshape(-1)
        scores = self.net(F.np.tile(users, k + 1),
                          F.np.concatenate([items, negatives]))
        scores = scores.reshape(k + 1, -1)
        positive = scores[0].reshape(-1, 1)  # (batch, 1)
        # (batch, num_neg); one negative: the same values, no transpose
        negative = scores[1:].T if k > 1 else scores[1].reshape(-1, 1)
        if self.kind == 'bpr':
            return bpr(F, positive - negative)
        if self.kind == 'hinge':
            return hinge(F, positive - negative)
        return log(F, positive, negative,
                   None if weights is None else weights.reshape(-1, 1))


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
