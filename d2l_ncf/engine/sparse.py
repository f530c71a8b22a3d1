"""Row-sparse embedding gradients with lazy optimizer updates (``--sparse``).

A dense gradient has a row for every user or item, and the optimizer then
moves every row (Adam's moments and weight decay, docs/ERRATA.md). With
``--sparse``, NeuMF's P, Q, U and V get row-sparse gradients and a lazy
optimizer (`LAZY_OPTIMIZERS`) updates only the rows a batch used. MXNet
1.9's NumPy mode allocates no row-sparse arrays, so only the gradients
are legacy ``RowSparseNDArray``s: the weights stay dense (saving, scoring
and checkpoints as without ``--sparse``).
"""
from ..runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
import os
import sys
import tempfile

import mxnet as mx
import numpy
from mxnet import autograd, gluon, nd


# NeuMF's embeddings and the batch columns whose ids index each: users
# (column 0) for P and U; positives and negatives (1, 2) for Q and V.
EMBEDDINGS = {'P': (0,), 'U': (0,), 'Q': (1, 2), 'V': (1, 2)}
ASYNC_REFUSED = (
    '--sparse trains under dist_sync only: under dist_async the servers '
    'would run the optimizer on row-sparse pushes to a table gluon stores '
    'dense there, which aborts MXNet 1.9; use --kvstore '
    'dist_sync, or drop --sparse')
# What MXNet logs (C++, to stderr) on a thread's first lazy update.
LAZY_NOTICE = 'Optimizer with lazy_update = True detected'


class RowSparseGradParameter(gluon.Parameter):
    """A dense weight with a legacy ``RowSparseNDArray`` gradient (gluon's
    ``grad_stype='row_sparse'`` allocates it with ``mxnet.numpy``, which
    has no sparse storage)."""

    def _init_grad(self):
        if self.grad_req == 'null':
            self._grad = None
            return
        self._grad = [nd.zeros(d.shape, ctx=d.ctx, dtype=d.dtype,
                               stype='row_sparse') for d in self._data]
        autograd.mark_variables(self._check_and_get(self._data, list),
                                self._grad, self.grad_req)


def use_row_sparse_grads(net, names=tuple(EMBEDDINGS)):
    """Give `net`'s embeddings `names` row-sparse gradients, in place,
    before `initialize`. Their parameters keep their names and order, so
    a seeded initialisation draws the dense net's values and the two
    load each other's parameters. Returns `net`."""
    for name in names:
        block = getattr(net, name)
        dense = block.weight
        block._kwargs['sparse_grad'] = True  # the operator's argument
        del block._reg_params['weight']  # gluon refuses to replace it
        block.params._params[dense.name] = block.weight = (
            RowSparseGradParameter(
                dense.name, shape=dense.shape, dtype=dense.dtype,
                init=dense.init, allow_deferred_init=True,
                grad_stype='row_sparse'))
    return net


class GlobalRows:
    """Batches that remember the last one they gave (the whole global
    batch, before a worker takes its part): which embedding rows this
    step changes on any worker."""

    def __init__(self, batches):
        self.batches, self.last = batches, None

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        for values in self.batches:
            self.last = values
            yield values

    def __getattr__(self, name):  # get_state, set_state: the stream's
        return getattr(self.batches, name)

    def rows(self, columns):
        """The sorted distinct ids of the last batch's `columns` (NumPy
        arrays, or MXNet's from the chapter's DataLoader)."""
        ids = [self.last[c] for c in columns]
        ids = [numpy.asarray(a.asnumpy() if hasattr(a, 'asnumpy') else a)
               .reshape(-1) for a in ids]
        return numpy.unique(numpy.concatenate(ids)).astype(numpy.int64)


def make_trainer(net, optimizer, optimizer_params, kvstore, batches=None):
    """The trainer of a ``--sparse`` run: gluon.Trainer in one process (a
    kvstore name), `DistSparseTrainer` under dist_sync (a
    `distributed.Cluster`; `batches` the `GlobalRows` the worker's part
    comes from); dist_async refused."""
    spend_lazy_update_notice()
    params = net.collect_params()
    if isinstance(kvstore, str):
        return gluon.Trainer(params, optimizer, optimizer_params,
                             kvstore=kvstore)
    if not kvstore.sync:
        raise ValueError(ASYNC_REFUSED)
    rows = {getattr(net, name).weight.name: columns
            for name, columns in EMBEDDINGS.items()}
    return DistSparseTrainer(params, optimizer, optimizer_params,
                             kvstore.kv, batches, rows)


def spend_lazy_update_notice():
    """MXNet warns, once per thread, that a lazy update differs from a
    dense one; --sparse asks for exactly that. Spend the warning on a
    one-row Adam update of our own with the C++ stderr captured, and pass
    on whatever else was captured."""
    weight, mean, var = (nd.zeros((2, 1)) for _ in range(3))
    grad = nd.sparse.row_sparse_array(
        (nd.zeros((1, 1)), nd.array([0], dtype='int64')), shape=(2, 1))
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:  # MXNet logs while it dispatches the operator, at the call
            nd.adam_update(weight, grad, mean, var, lr=0.0,
                           lazy_update=True, out=weight)
            weight.wait_to_read()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode(errors='replace')
    sys.stderr.write(''.join(line for line in text.splitlines(True)
                             if LAZY_NOTICE not in line))


class DistSparseTrainer(gluon.Trainer):
    """gluon.Trainer for dist_sync with row-sparse embedding gradients
    and the optimizer on the workers, which gluon refuses. A step pushes
    every gradient (an embedding's: the rows this worker's part used) and
    pulls the sums: dense gradients whole, an embedding's by
    ``row_sparse_pull`` of the rows the global batch used (`rows`: weight
    name -> batch columns). Every worker then runs the same lazy update
    and keeps its optimizer state, as the dense path does."""

    def __init__(self, params, optimizer, optimizer_params, kv, batches,
                 rows):
        super().__init__(params, optimizer, optimizer_params, kvstore=kv,
                         update_on_kvstore=False)
        self._kv, self._batches, self._rows = kv, batches, rows

    def _init_kvstore(self):
        # The servers' update: SGD with learning rate -1 and weight decay
        # -1 writes (1 - lr wd) w - lr g = 0 w + g = g into the pushed
        # rows, exactly: they hold the last step's summed gradient. (With
        # none, MXNet 1.9's servers copy a summed row-sparse push over the
        # table by position, not row id, and pull back the wrong rows.)
        self._kv.set_optimizer(mx.optimizer.SGD(
            learning_rate=-1.0, wd=-1.0, momentum=0.0, rescale_grad=1.0,
            lazy_update=True))
        self._kvstore, self._update_on_kvstore = self._kv, False
        self._distributed, self._kv_initialized = True, True

    def _init_params(self):
        for param in self._params_to_init:
            value = param.list_data()[0]
            if param._grad_stype == 'row_sparse':  # every row held, as
                value = nd.sparse.row_sparse_array(  # the servers need
                    (nd.zeros(param.shape, dtype=param.dtype),
                     nd.arange(param.shape[0], dtype='int64')),
                    shape=param.shape)
            self._kvstore.init(self._param2idx[param.name], value)
        self._params_to_init = []

    def _allreduce_grads(self):
        for i, param in enumerate(self._params):
            if param.grad_req == 'null':
                continue
            grads = param.list_grad()
            if grads[0].stype != 'row_sparse':
                self._kvstore.pushpull(i, grads, priority=-i)
                continue
            rows = self._batches.rows(self._rows[param.name])
            self._kvstore.push(i, grads, priority=-i)
            out = grads[0]  # MXNet pulls row-sparse values into one array
            self._kvstore.row_sparse_pull(
                i, out=out, row_ids=nd.array(rows, dtype='int64',
                                             ctx=out.context), priority=-i)
            for g in grads[1:]:
                out.copyto(g)
