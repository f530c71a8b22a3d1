"""The pairwise ranking losses of the previous section (d2l 16.5).

d2l 1.0.3 ships them verbatim; we re-export them so the chapter's
``d2l.BPRLoss()`` reads ``d2l_ncf.BPRLoss()``.
"""
from d2l import mxnet as d2l
from mxnet import gluon, np, npx

BPRLoss = d2l.BPRLoss
HingeLossbRec = d2l.HingeLossbRec


class LogLoss(gluon.loss.Loss):
    """The NCF paper's pointwise log loss, on logits, summed.

    Positives are labelled 1 and negatives 0: ``-log sigmoid(pos)
    - sum log(1 - sigmoid(neg))``, written with softplus so it stays
    finite for large logits. ``negative`` may hold several per positive.
    ``sample_weight`` (one per positive, optional) weighs each positive's
    terms and its negatives'.
    """
    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super(LogLoss, self).__init__(weight=None, batch_axis=0, **kwargs)

    def forward(self, positive, negative, sample_weight=None):
        softplus = lambda x: npx.activation(x, act_type='softrelu')  # noqa
        if sample_weight is None:
            return np.sum(softplus(-positive)) + np.sum(softplus(negative))
        w = sample_weight.reshape(-1, 1)
        negative = negative.reshape(w.shape[0], -1)
        return (np.sum(w * softplus(-positive.reshape(-1, 1)))
                + np.sum(w * softplus(negative)))


LOSSES = {'bpr': BPRLoss, 'hinge': HingeLossbRec, 'log': LogLoss}
