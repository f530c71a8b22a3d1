"""Row-sparse embedding gradients with lazy optimizer updates (``--sparse``).

A batch of B examples uses at most a few thousand rows of each embedding,
yet a dense gradient has a row for every user or item, and MXNet's
optimizers then move every row: Adam's moments and its weight decay touch
the whole table at every step (the chapter's decay of untrained rows,
docs/ERRATA.md). With ``--sparse`` the four embeddings of NeuMF (P, Q, U,
V) get row-sparse gradients, holding only the rows the batch used, and an
optimizer with a lazy update (`LAZY_OPTIMIZERS`) reads and writes only
those rows: weights, Adam's moments and the decay alike.

MXNet 1.9's NumPy mode, which the package runs in, refuses to allocate
row-sparse arrays. Only the gradients need to be: the weights stay dense
``mxnet.numpy`` arrays (so saving, loading, scoring and checkpoints are
unchanged, and a sparse run's parameters load into a dense NeuMF), while
`RowSparseGradParameter` gives each weight a legacy row-sparse gradient
buffer, which the embedding operator's ``sparse_grad=True`` fills.

Distributed (``dist_sync``), every worker keeps a whole copy of the
tables and its optimizer state, as the dense path does; `DistSparseTrainer`
pushes each embedding's row-sparse gradient (this worker's rows only) and
pulls back, with ``row_sparse_pull``, the summed gradient of just the rows
the global batch touched -- the rows this step changes. The servers keep
no optimizer state (`assign_optimizer`): checkpoints and resuming work as without
``--sparse``.
"""
from ..runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
import os
import sys
import tempfile

import mxnet as mx
import numpy
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from .optimizers import LAZY_OPTIMIZERS  # noqa: F401  (no MXNet there)

# NeuMF's embeddings and the batch columns whose ids index each: users
# (column 0) for P and U; positives and negatives (1, 2) for Q and V.
EMBEDDINGS = {'P': (0,), 'U': (0,), 'Q': (1, 2), 'V': (1, 2)}


class RowSparseGradParameter(gluon.Parameter):
    """A dense weight with a row-sparse gradient buffer, in NumPy mode.

    Gluon's own ``grad_stype='row_sparse'`` allocates the buffer with
    ``mxnet.numpy.zeros``, which has no sparse storage; this allocates a
    legacy ``RowSparseNDArray`` and attaches it to the weight for autograd.
    """

    def _init_grad(self):
        if self.grad_req == 'null':
            self._grad = None
            return
        self._grad = [nd.zeros(d.shape, ctx=d.ctx, dtype=d.dtype,
                               stype='row_sparse') for d in self._data]
        autograd.mark_variables(self._check_and_get(self._data, list),
                                self._grad, self.grad_req)


class SparseEmbedding(nn.Embedding):
    """``nn.Embedding(..., sparse_grad=True)`` that works in NumPy mode.

    Its parameter has the same name as the dense embedding's would with
    the same ``prefix``, so the two load each other's saved parameters.
    """

    def __init__(self, input_dim, output_dim, **kwargs):
        super().__init__(input_dim, output_dim, sparse_grad=True, **kwargs)
        dense = self.weight
        weight = RowSparseGradParameter(
            dense.name, shape=dense.shape, dtype=dense.dtype,
            init=dense.init, allow_deferred_init=True,
            grad_stype='row_sparse')
        self.params._params[dense.name] = weight
        del self._reg_params['weight']  # gluon refuses to replace it
        self.weight = weight


def use_row_sparse_grads(net, names=tuple(EMBEDDINGS)):
    """Replace `net`'s embeddings `names` by `SparseEmbedding`s of the
    same shapes and parameter names, in place (before `initialize`; the
    parameters keep their order, so a seeded initialisation draws the
    same values as the dense net's). Returns `net`."""
    for name in names:
        dense = getattr(net, name)
        setattr(net, name, SparseEmbedding(*dense.weight.shape,
                                           prefix=dense.prefix))
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
        """The sorted distinct ids of the last batch's `columns`."""
        ids = [as_numpy(self.last[c]).reshape(-1) for c in columns]
        return numpy.unique(numpy.concatenate(ids)).astype(numpy.int64)


ASYNC_REFUSED = (
    '--sparse trains under dist_sync only: under dist_async the servers '
    'would run the optimizer on row-sparse pushes to a table gluon stores '
    'dense there, which aborts MXNet 1.9; use --kvstore '
    'dist_sync, or drop --sparse')


def as_numpy(array):
    """A NumPy array of `array` (NumPy's, or MXNet's: the chapter's
    DataLoader gives those)."""
    return array.asnumpy() if hasattr(array, 'asnumpy') else numpy.asarray(
        array)


def make_trainer(net, optimizer, optimizer_params, kvstore, batches=None):
    """The trainer of a `--sparse` run.

    One process (a kvstore name): gluon.Trainer, which reduces row-sparse
    gradients over the devices and updates lazily. ``dist_sync`` (a
    `distributed.Cluster`): `DistSparseTrainer`, which needs the
    `GlobalRows` the worker's batches come from. ``dist_async`` is
    refused (`ASYNC_REFUSED`).
    """
    spend_lazy_update_notice()
    params = net.collect_params()
    cluster = kvstore if hasattr(kvstore, 'trainer_options') else None
    if cluster is None:
        return gluon.Trainer(params, optimizer, optimizer_params,
                             kvstore=kvstore)
    if not cluster.sync:
        raise ValueError(ASYNC_REFUSED)
    if batches is None:
        raise ValueError('a dist_sync --sparse trainer needs the GlobalRows '
                         'of the batches')
    rows = {getattr(net, name).weight.name: columns
            for name, columns in EMBEDDINGS.items()}
    return DistSparseTrainer(params, optimizer, optimizer_params,
                             cluster.kv, batches, rows)


# What MXNet logs (C++, to stderr) on a thread's first lazy update.
LAZY_NOTICE = 'Optimizer with lazy_update = True detected'


def spend_lazy_update_notice():
    """MXNet warns, once per thread, that a lazy update differs from a
    dense one; --sparse asks for exactly that. Spend the warning on a
    one-row Adam update of arrays of our own, with the C++ stderr
    captured; whatever else was captured is passed on."""
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


# The servers' update for dist_sync --sparse: SGD with learning rate -1
# and weight decay -1 writes (1 - lr wd) w - lr g = 0 w + g = g into the
# pushed rows, exactly: the servers hold the last step's summed gradient,
# rows not pushed are never pulled. (Without an update, MXNet 1.9's
# servers copy a summed row-sparse push over the stored table row by
# position, not by row id, and pull back the wrong rows.)
def assign_optimizer():
    return mx.optimizer.SGD(learning_rate=-1.0, wd=-1.0, momentum=0.0,
                            rescale_grad=1.0, lazy_update=True)


class DistSparseTrainer(gluon.Trainer):
    """gluon.Trainer for ``dist_sync`` with row-sparse embedding gradients
    and the optimizer on the workers.

    gluon.Trainer refuses that combination (MXNet cannot pull a row-sparse
    gradient by a plain pull). Here each step pushes every gradient (the
    embeddings' as row-sparse: the rows this worker's part used), then
    pulls the sums: dense gradients whole, each embedding's gradient with
    ``row_sparse_pull`` of the rows the global batch used (`rows`: weight
    name -> batch columns). Every worker then runs the same lazy update,
    so the replicas stay equal, and the optimizer state is local (saved
    and resumed as without a kvstore).
    """

    def __init__(self, params, optimizer, optimizer_params, kv, batches,
                 rows):
        super().__init__(params, optimizer, optimizer_params, kvstore=kv,
                         update_on_kvstore=False)
        self._kv, self._batches, self._rows = kv, batches, rows

    def _init_kvstore(self):
        self._kv.set_optimizer(assign_optimizer())
        self._kvstore, self._update_on_kvstore = self._kv, False
        self._distributed, self._kv_initialized = True, True

    def _init_params(self):
        for param in self._params_to_init:
            idx = self._param2idx[param.name]
            if param._grad_stype == 'row_sparse':
                n = param.shape[0]  # every row held, as MXNet's servers need
                value = nd.sparse.row_sparse_array(
                    (nd.zeros(param.shape, dtype=param.dtype),
                     nd.arange(n, dtype='int64')), shape=param.shape)
            else:
                value = param.list_data()[0]
            self._kvstore.init(idx, value)
        self._params_to_init = []

    def _allreduce_grads(self):
        for i, param in enumerate(self._params):
            if param.grad_req == 'null':
                continue
            grads = param.list_grad()
            if grads[0].stype == 'row_sparse':
                self._reduce_rows(i, param, grads)
            else:
                self._kvstore.pushpull(i, grads, priority=-i)

    def _reduce_rows(self, i, param, grads):
        """Push this worker's rows; pull the summed rows of the batch."""
        rows = self._batches.rows(self._rows[param.name])
        self._kvstore.push(i, grads, priority=-i)
        out = grads[0]  # MXNet pulls row-sparse values into one array
        self._kvstore.row_sparse_pull(
            i, out=out, row_ids=nd.array(rows, dtype='int64',
                                         ctx=out.context), priority=-i)
        for g in grads[1:]:
            out.copyto(g)
