"""The corrected protocol's training step, as one named call (`FastStep`).

Per batch the chapter runs a dozen imperative calls (two scorings, the
loss, the backward pass, then one optimizer update per parameter) and
reads the loss back to the host. `FastStep` does the same arithmetic in
few, large operations:

- positives and negatives scored by one call of the net, the loss in the
  same compiled graph (`PairwiseObjective`, below), with static memory and
  shapes;
- one update for all parameters: their weights and gradients are slices
  of one flat buffer each, so a single ``adam_update`` (or SGD's update)
  serves them all, element for element the same arithmetic as
  ``trainer.step`` (bit-equal: tests/engine/test_step.py); the
  optimizer's state is kept in the trainer, so saving and loading its
  states works as before;
- the loss stays on the device; `FastStep.finish` reads the epoch's
  batch losses at once;
- `epoch_batches` samples an epoch's batches at once (the same draws as
  iterating the batches) and copies them to the device in one go.

A loop using it (the corrected protocol's)::

    step = FastStep(net, loss, trainer, devices, penalty)
    for epoch in range(num_epochs):
        for values in epoch_batches(train_iter, devices[0]):
            step(values)
        losses = step.finish()  # floats, one per batch, read at once
        # not finite: the batch is losses' first non-finite entry; the
        # updates after it have run, so check the parameters before
        # evaluating or saving (as after every epoch)
        loss_sum = 0.0
        for l in losses:  # in order, as d2l's Accumulator adds
            loss_sum += l

The loss of every batch is no longer looked at before its update (that
would read it back to the host each batch): a diverging run is stopped
at the epoch's end, before its model is evaluated or saved, naming the
first batch whose loss was not finite.

Where the fused update is not the same math, it is not used and
``trainer.step`` runs: several devices, a kvstore (distributed or
--sparse's lazy trainer), optimizers other than Adam and SGD, per-
parameter learning-rate or decay multipliers, row-sparse gradients.
"""
from ..runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
import math

import mxnet as mx
import numpy
from d2l import mxnet as d2l
from mxnet import autograd, gluon, nd

from .sparse import GlobalRows


# Each loss's formula, once (losses.py's classes and graphs use them too),
# for imperative calls (F: mxnet.ndarray) and compiled steps (F:
# mxnet.symbol). `bpr` and `hinge` are d2l's BPRLoss and HingeLossbRec,
# operator for operator, on score differences;
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
    # the chapter's two losses; losses.py adds its LogLoss ('log')
    KINDS = {d2l.BPRLoss: 'bpr', d2l.HingeLossbRec: 'hinge'}

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


class FastStep:
    """The corrected protocol's training step: scores, loss, gradients and
    update.

    ``step(values)`` takes a batch ``(users (B,), items (B,), negatives
    (B,) or (B, num_neg)[, weights (B,)])`` of NumPy or MXNet arrays,
    splits it over `devices` (``gluon.utils.split_and_load``, as the
    chapter does), runs forward and backward and one update for the
    batch, and returns the batch's summed loss (over all devices) as an
    MXNet scalar on ``devices[0]``, not read back to the host.
    ``penalty(net, users, items, negatives)``, if given, is added to the
    objective the gradients are taken of, not to the returned loss.
    `finish()`, once an epoch, reads the epoch's batch losses at once.
    `scale` (``distributed.Cluster.scale``: the workers whose examples
    one dist_sync step sums) multiplies the batch size the update divides
    the summed gradient by, as ``trainer.step(B * scale)``.

    The compiled graph is built for the first batch's shapes; later
    batches must have the same number of negatives and the same presence
    of weights (the batch size may change: the graph re-plans its memory
    then). A loss `PairwiseObjective` does not know, a penalty, or a net
    that is not a HybridBlock runs the chapter's calls instead.
    """

    def __init__(self, net, loss, trainer, devices, penalty=None, *,
                 scale=1):
        self.net, self.loss, self.trainer = net, loss, trainer
        self.devices, self.penalty = list(devices), penalty
        self.scale = scale
        self.graph, self.num_neg = None, None
        self.update = None  # a FlatUpdate, or False where none fits
        self.losses = []  # this epoch's, on the device, for `finish`

    def __call__(self, values):
        batch_size = values[0].shape[0] * self.scale
        parts = [split(v, self.devices) for v in values]
        if self.update is None:  # the first batch
            self._build(parts)
        elif self.update and self.update.stale():  # a parameter replaced
            self.update.bind_parameters()
            self._compile()
        with autograd.record():
            if self.graph is not None:
                losses = [self.graph(*p) for p in zip(*parts)]
            else:
                losses = [chapter_loss(self.net, self.loss, *p)
                          for p in zip(*parts)]
            objectives = losses if self.penalty is None else [
                l + self.penalty(self.net, *p[:3])
                for l, p in zip(losses, zip(*parts))]
        autograd.backward(objectives)
        if self.update and self.update.ready(self.trainer):
            self.update(self.trainer, batch_size)
        else:
            self.trainer.step(batch_size)
        total = losses[0]
        for l in losses[1:]:
            total = total + l.as_in_context(self.devices[0])
        self.losses.append(total)
        return total

    def finish(self):
        """The losses of the batches since the last call, read from the
        device at once: a list of Python floats, one per batch, in order.

        Adding them one by one in Python (as d2l's Accumulator does) gives
        the epoch's loss bit for bit as a loop that read each batch's loss
        did; a float32 sum on the device would move its last bits. Call it
        once an epoch (it also frees the batches' loss arrays); then
        ``numpy.isfinite`` names the first batch whose loss was not.
        """
        losses, self.losses = self.losses, []
        if not losses:
            return []
        return [float(x) for x in mx.np.stack(losses).asnumpy()]

    def _build(self, parts):
        """Before the first batch: the parameters' shapes (one forward
        pass, outside autograd, ends gluon's deferred initialisation),
        the flat buffers, then the compiled graph (whose static memory
        holds on to the gradient arrays it first wrote)."""
        negatives = parts[2][0]
        self.num_neg = 1 if negatives.ndim == 1 else negatives.shape[1]
        self.net(parts[0][0], parts[1][0])
        self.update = FlatUpdate.for_trainer(self.trainer,
                                             self.devices) or False
        self._compile()

    def _compile(self):
        # with a penalty the chapter's calls, as before the fused step:
        # runs with --reg keep their recorded bits (docs/results)
        if (self.penalty is None and PairwiseObjective.supports(self.loss)
                and isinstance(self.net, gluon.HybridBlock)):
            self.graph = PairwiseObjective(self.net, self.loss, self.num_neg)
            self.graph.hybridize(static_alloc=True, static_shape=True)


def split(array, devices):
    """``gluon.utils.split_and_load(array, devices)``, as the chapter
    splits a batch; an MXNet array already on the one device is used as
    it is (split_and_load would make a new handle, with a warning)."""
    if (len(devices) == 1 and isinstance(array, mx.np.ndarray)
            and array.ctx == devices[0]):
        return [array]
    return gluon.utils.split_and_load(array, devices)


def chapter_loss(net, loss, users, items, negatives, *weights):
    """The chapter's calls: positives, then negatives, then the loss,
    summed to one number (any loss taking (positive, negative[, weights]))."""
    positive = net(users, items)
    if negatives.ndim == 1:
        negative = net(users, negatives)
    else:
        batch, num_neg = negatives.shape
        negative = net(users.reshape(-1, 1).repeat(num_neg, axis=1)
                       .reshape(-1), negatives.reshape(-1)).reshape(
                           batch, num_neg)
    return loss(positive, negative, *weights).sum()


class FlatUpdate:
    """One optimizer update for all of a trainer's parameters.

    The parameters' weights and gradients become slices of one flat
    buffer each (the net's parameters are rebound to the slices, their
    values kept), and the optimizer's state (Adam's moments, SGD's
    momentum) slices of one buffer per state, installed in the trainer's
    updater: one ``adam_update`` on the flat buffers is then the
    trainer's per-parameter updates, element for element, and the
    trainer saves and loads the same states. Built only where that holds
    (`for_trainer`).
    """
    KINDS = (mx.optimizer.Adam, mx.optimizer.SGD)

    @classmethod
    def for_trainer(cls, trainer, devices):
        """A FlatUpdate for `trainer`, or None where its update is not
        one elementwise operator over plain dense float32 parameters on
        one device, updated locally."""
        if type(trainer) is not gluon.Trainer or len(devices) != 1:
            return None  # e.g. --sparse's, or several devices' reduction
        kvstore = trainer._kvstore_params['kvstore']
        if not (kvstore is None or isinstance(kvstore, str)
                and 'dist' not in kvstore):
            return None  # a kvstore given, or several workers
        if not trainer._kv_initialized:  # local: no kvstore for one device
            trainer._init_kvstore()
        if trainer._kvstore is not None or trainer._update_on_kvstore:
            return None
        params = [p for p in trainer._params if p.grad_req != 'null']
        optimizer = trainer._optimizer
        if (type(optimizer) not in cls.KINDS or not params
                or getattr(optimizer, 'multi_precision', False)
                or any(p.grad_req != 'write' or p._stype != 'default'
                       or p._grad_stype != 'default'
                       or numpy.dtype(p.dtype) != numpy.float32
                       or p.lr_mult != 1 or p.wd_mult != 1
                       or len(p.list_data()) != 1 for p in params)):
            return None
        return cls(trainer, params, devices[0])

    def __init__(self, trainer, params, ctx):
        self.params, self.ctx = params, ctx
        self.indices = [trainer._param2idx[p.name] for p in params]
        self.shapes = [p.shape for p in params]
        sizes = [int(numpy.prod(s)) for s in self.shapes]
        self.bounds = list(zip(numpy.cumsum([0] + sizes[:-1]).tolist(),
                               numpy.cumsum(sizes).tolist()))
        total = sum(sizes)
        self.weight = nd.zeros((total,), ctx=ctx)
        self.grad = nd.zeros((total,), ctx=ctx)
        self.views = None
        self.states, self.bound, self.state_views = None, None, []
        self.bind_parameters()

    def slices(self, flat):
        """`flat` cut into the parameters' shapes (views, no copies)."""
        return [flat[a:b].reshape(s)
                for (a, b), s in zip(self.bounds, self.shapes)]

    def bind_parameters(self):
        """Copy the parameters' values into the flat buffer and make them
        its slices (weights and gradients), marked for autograd."""
        weights, grads = self.slices(self.weight), self.slices(self.grad)
        for p, w in zip(self.params, weights):
            w[:] = p.data().as_nd_ndarray()
        self.views = [w.as_np_ndarray() for w in weights]
        grad_views = [g.as_np_ndarray() for g in grads]
        for p, w, g in zip(self.params, self.views, grad_views):
            p._data[0], p._grad[0] = w, g
        autograd.mark_variables(self.views, grad_views,
                                [p.grad_req for p in self.params])

    def stale(self):
        """Whether a parameter's array was replaced (e.g. initialised
        again) since `bind_parameters`."""
        return any(p._data[0] is not v
                   for p, v in zip(self.params, self.views))

    def ready(self, trainer):
        """Rebind the updater's states if they were replaced since the
        last step (``trainer.load_states``); False if the trainer's
        optimizer changed kind."""
        optimizer = trainer._optimizer
        if type(optimizer) not in self.KINDS:
            return False
        updater = trainer._updaters[0]
        if self.bound is not updater.states or any(
                updater.states.get(i) is not s
                for i, s in zip(self.indices, self.state_views)):
            self.bind_states(optimizer, updater)
        return True

    def bind_states(self, optimizer, updater):
        """The optimizer's states as slices of flat buffers, holding the
        values the updater had (zeros for a parameter not yet updated)."""
        count = (2 if isinstance(optimizer, mx.optimizer.Adam)
                 else 1 if optimizer.momentum else 0)
        self.states = [nd.zeros(self.weight.shape, ctx=self.ctx)
                       for _ in range(count)]
        per_state = [self.slices(s) for s in self.states]
        self.state_views = []
        for j, i in enumerate(self.indices):
            state = tuple(s[j] for s in per_state)
            old = updater.states.get(i)
            if old is not None:
                old = old if isinstance(old, (tuple, list)) else (old,)
                for new, value in zip(state, old):
                    new[:] = value.as_in_context(self.ctx)
            state = (state if len(state) > 1 else
                     state[0] if state else None)
            updater.states[i] = state
            updater.states_synced[i] = True
            self.state_views.append(state)
        self.bound = updater.states

    def __call__(self, trainer, batch_size):
        """``trainer.step(batch_size)``, in one operator."""
        optimizer = trainer._optimizer
        optimizer.rescale_grad = trainer._scale / batch_size
        optimizer._update_count(self.indices)
        lr = optimizer._get_lrs(self.indices[:1])[0]
        wd = optimizer._get_wds(self.indices[:1])[0]
        kwargs = {'rescale_grad': optimizer.rescale_grad}
        if optimizer.clip_gradient:
            kwargs['clip_gradient'] = optimizer.clip_gradient
        w, g = self.weight, self.grad
        if isinstance(optimizer, mx.optimizer.Adam):
            t = optimizer._index_update_count[self.indices[0]]
            coef1 = 1. - optimizer.beta1 ** t
            coef2 = 1. - optimizer.beta2 ** t
            lr *= math.sqrt(coef2) / coef1
            nd.adam_update(w, g, *self.states, out=w,
                           lazy_update=optimizer.lazy_update, lr=lr, wd=wd,
                           beta1=optimizer.beta1, beta2=optimizer.beta2,
                           epsilon=optimizer.epsilon, **kwargs)
        elif optimizer.aggregate_num > 0:  # gluon's SGD: multi-tensor
            if self.states:
                nd.multi_sgd_mom_update(w, g, self.states[0], out=[w],
                                        num_weights=1, lrs=(lr,), wds=(wd,),
                                        momentum=optimizer.momentum,
                                        **kwargs)
            else:
                nd.multi_sgd_update(w, g, out=[w], num_weights=1, lrs=(lr,),
                                    wds=(wd,), **kwargs)
        elif self.states:
            nd.sgd_mom_update(w, g, self.states[0], out=w,
                              lazy_update=optimizer.lazy_update, lr=lr,
                              wd=wd, momentum=optimizer.momentum, **kwargs)
        else:
            nd.sgd_update(w, g, out=w, lazy_update=optimizer.lazy_update,
                          lr=lr, wd=wd, **kwargs)


def epoch_batches(batches, device):
    """One epoch of `batches` (an iterable of batch tuples of arrays,
    e.g. `sampling.TripleBatches`), sampled at once and copied to
    `device` in one copy per column: batch tuples of MXNet arrays on
    `device`, the same values in the same order as iterating `batches`
    (the same random draws, the same state after). A list; for
    `sparse.GlobalRows` (--sparse, whose distributed trainer reads the
    rows of the batch it updates) a generator that tells it each batch
    as the loop takes it. Batches of another size than the first (none
    from TripleBatches, which rolls over) are copied one by one."""
    rows = batches if isinstance(batches, GlobalRows) else None
    source = rows.batches if rows is not None else batches
    epoch = [tuple(v.asnumpy() if hasattr(v, 'asnumpy') else
                   numpy.asarray(v) for v in b) for b in source]
    if not epoch:
        on_device = []
    elif any(b[0].shape[0] != epoch[0][0].shape[0] for b in epoch):
        on_device = [tuple(mx.np.array(v, ctx=device, dtype=v.dtype)
                           for v in b) for b in epoch]
    else:
        columns = [mx.np.array(numpy.stack(c), ctx=device, dtype=c[0].dtype)
                   for c in zip(*epoch)]
        on_device = [tuple(c[i] for c in columns)
                     for i in range(len(epoch))]
    if rows is None:
        return on_device
    return told(rows, epoch, on_device)


def told(rows, epoch, on_device):
    """`on_device`'s batches, each first told to `rows` (its host copy
    from `epoch`) as the loop takes it."""
    for host, batch in zip(epoch, on_device):
        rows.last = host
        yield batch
