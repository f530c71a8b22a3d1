"""The pairwise ranking losses of the previous section (d2l 16.5).

d2l 1.0.3 ships them verbatim; we re-export them so the chapter's
``d2l.BPRLoss()`` reads ``d2l_ncf.BPRLoss()``.
"""
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from d2l import mxnet as d2l
import mxnet as mx
from mxnet import gluon

from .engine.step import PairwiseObjective, log
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


def fused_objective(net, loss, negatives):
    """`PairwiseObjective` for batches whose negatives look like
    `negatives`, compiled with static memory and shapes."""
    num_neg = 1 if negatives.ndim == 1 else negatives.shape[1]
    step = PairwiseObjective(net, loss, num_neg)
    step.hybridize(static_alloc=True, static_shape=True)
    return step
