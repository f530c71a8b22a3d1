"""The corrected protocol's training step: scores, loss, gradients and
the update of one batch, in as few operations as MXNet allows."""
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from mxnet import autograd, gluon

from .losses import PairwiseObjective, fused_objective


class FastStep:
    """One batch of the corrected protocol: forward, backward, update.

    Called with ``(users, items, negatives[, weights])`` (negatives
    (batch,) or (batch, num_neg)), it splits them over `devices` as the
    chapter does, runs one compiled graph of net and loss per device
    (`losses.PairwiseObjective`; the chapter's separate calls when the
    net is a plain Block, the loss one the graph does not know, or a
    `penalty` is added), takes one optimizer step for the batch and
    returns the batch's summed loss on ``devices[0]``, not read back to
    the host. `penalty(net, users, items, negatives)` is added to the
    objective, not to the returned loss.
    """

    def __init__(self, net, loss, trainer, devices, penalty=None):
        self.net, self.loss, self.trainer = net, loss, trainer
        self.devices, self.penalty, self.graph = devices, penalty, None
        self.fused = (penalty is None and PairwiseObjective.supports(loss)
                      and isinstance(net, gluon.HybridBlock))

    def __call__(self, values):
        parts = [gluon.utils.split_and_load(v, self.devices) for v in values]
        if self.fused:
            if self.graph is None:
                self.graph = fused_objective(self.net, self.loss, values[2])
            with autograd.record():
                ls = [self.graph(*t) for t in zip(*parts)]
            objectives = ls
        else:
            ls, objectives = chapter_step(self.net, self.loss, parts,
                                          self.penalty)
        for objective in objectives:
            objective.backward()
        self.trainer.step(values[0].shape[0])
        total = ls[0].sum()
        for l in ls[1:]:
            total = total + l.sum().as_in_ctx(self.devices[0])
        return total


def chapter_step(net, loss, parts, penalty=None):
    """The chapter's calls: positives, then negatives, then the loss (and
    the penalty, if any), recorded for autograd; `parts` are (users,
    items, negatives[, weights]) split over the devices. Returns (losses,
    objectives), one per device."""
    triples, weights = parts[:3], parts[3:]
    with autograd.record():
        p_pos = [net(*t) for t in zip(*triples[:-1])]
        p_neg = [score_negatives(net, *t)
                 for t in zip(*triples[:-2], triples[-1])]
        ls = [loss(p, n, *w) for p, n, *w in zip(p_pos, p_neg, *weights)]
        objectives = ls if penalty is None else [
            l + penalty(net, *t) for l, t in zip(ls, zip(*triples))]
    return ls, objectives


def score_negatives(net, users, negatives):
    """Scores of negatives shaped (batch,) or (batch, num_neg)."""
    if negatives.ndim == 1:
        return net(users, negatives)  # the chapter's case: (batch, 1)
    batch, num_neg = negatives.shape
    flat_users = users.reshape(-1, 1).repeat(num_neg, axis=1).reshape(-1)
    return net(flat_users, negatives.reshape(-1)).reshape(batch, num_neg)
