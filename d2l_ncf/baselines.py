"""The models NeuMF is measured against, with the chapter's interface.

Each is a Gluon ``HybridBlock``: ``net(users, items)`` returns one score
per pair, shape (batch, 1), so the chapter's `train_ranking` and the
evaluators take any of them where they take `NeuMF`:

- `Popularity`: an item's number of training interactions (no training);
- `MF`: matrix factorisation, ``p_u . q_i + b_u + b_i``;
- `GMF`: NeuMF's GMF path alone, ``h^T (p_u * q_i)``;
- `MLP`: NeuMF's MLP path alone, ``h^T mlp([u_u, v_i])``.

`GMF` and `MLP` name their layers as `NeuMF` does (``P``, ``Q``; ``U``,
``V``, ``mlp``; ``prediction_layer``), and `load_pretrained` starts a
NeuMF from one of each, as the NCF paper pre-trains it (He et al., WWW
2017, section 3.4.1). All output logits, as the corrected protocol's
NeuMF does (``sigmoid_output=False``): a pairwise loss wants them.
"""
import numpy
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from mxnet import np
from mxnet.gluon import nn

from .model import concatenate, mlp_tower


class Popularity(nn.HybridBlock):
    """Scores an item by how often it occurs in training, whoever asks.

    The counts sit in a one-column embedding that is never trained
    (``grad_req='null'``); `fit` sets them. Many items share a count, so
    its rankings hold many ties: the evaluators count them in
    expectation.
    """
    def __init__(self, num_items, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.counts = nn.Embedding(num_items, 1)
        self.counts.weight.grad_req = 'null'
        self.num_items = num_items

    def fit(self, items_train):
        """Count each item in `items_train` (item indices); returns self.
        Initialise the block first (`initialize(ctx=devices)`)."""
        counts = numpy.bincount(numpy.asarray(items_train, dtype=numpy.int64),
                                minlength=self.num_items)
        self.counts.weight.set_data(np.array(
            counts.reshape(-1, 1).astype(numpy.float32)))
        return self

    def hybrid_forward(self, F, user_id, item_id):
        return self.counts(item_id)  # (batch, 1): the same for every user


class MF(nn.HybridBlock):
    """Matrix factorisation with biases: ``p_u . q_i + b_u + b_i``.

    The baseline Rendle et al. (RecSys 2020) found, well tuned, to beat
    NeuMF under the NCF paper's own protocol. Under a pairwise loss the
    user bias cancels out; it is kept so the model is the textbook one.
    """
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.P = nn.Embedding(num_users, num_factors)
            self.Q = nn.Embedding(num_items, num_factors)
            self.user_bias = nn.Embedding(num_users, 1)
            self.item_bias = nn.Embedding(num_items, 1)

    def hybrid_forward(self, F, user_id, item_id):
        dot = (self.P(user_id) * self.Q(item_id)).sum(axis=1, keepdims=True)
        return dot + self.user_bias(user_id) + self.item_bias(item_id)


class GMF(nn.HybridBlock):
    """NeuMF's generalised matrix factorisation path with its own output
    layer: ``h^T (p_u * q_i)``, no bias (NeuMF's prediction layer has
    none)."""
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.P = nn.Embedding(num_users, num_factors)
            self.Q = nn.Embedding(num_items, num_factors)
            self.prediction_layer = nn.Dense(1, use_bias=False)

    def hybrid_forward(self, F, user_id, item_id):
        gmf = self.P(user_id) * self.Q(item_id)  # (batch, num_factors)
        return self.prediction_layer(gmf)  # (batch, 1)


class MLP(nn.HybridBlock):
    """NeuMF's MLP path with its own output layer: the user's and item's
    embeddings joined, the chapter's ReLU tower, ``h^T`` of its output."""
    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.U = nn.Embedding(num_users, num_factors)
            self.V = nn.Embedding(num_items, num_factors)
            self.mlp = mlp_tower(nums_hiddens)
            self.prediction_layer = nn.Dense(1, use_bias=False)

    def hybrid_forward(self, F, user_id, item_id):
        # (batch, 2 * num_factors) -> (batch, nums_hiddens[-1])
        mlp = self.mlp(concatenate(F, [self.U(user_id), self.V(item_id)]))
        return self.prediction_layer(mlp)  # (batch, 1)


def load_pretrained(neumf, gmf, mlp, alpha=0.5):
    """Set `neumf`'s weights from a trained `gmf` and `mlp` (NCF paper,
    section 3.4.1); returns `neumf`.

    The embeddings and the MLP's layers are copied; the prediction
    layer's weights become ``[alpha * h_gmf, (1 - alpha) * h_mlp]``,
    the two models' output layers side by side, weighed (the paper takes
    alpha = 0.5). Neither model has an output bias, nor has NeuMF. All
    three must be initialised on the same contexts, with the same sizes.
    """
    for net in (neumf, gmf, mlp):
        materialize(net)
    pairs = [(neumf.P, gmf.P), (neumf.Q, gmf.Q), (neumf.U, mlp.U),
             (neumf.V, mlp.V)]
    pairs += [(mine, theirs) for mine, theirs in zip(neumf.mlp, mlp.mlp)]
    if len(neumf.mlp) != len(mlp.mlp):
        raise ValueError(f'NeuMF has {len(neumf.mlp)} MLP layers, the '
                         f'pre-trained MLP {len(mlp.mlp)}')
    for mine, theirs in pairs:
        for name in ('weight', 'bias'):
            if hasattr(mine, name):
                copy(getattr(mine, name), getattr(theirs, name))
    h = numpy.concatenate(
        [alpha * gmf.prediction_layer.weight.data().asnumpy(),
         (1 - alpha) * mlp.prediction_layer.weight.data().asnumpy()],
        axis=1)  # (1, num_factors + nums_hiddens[-1])
    set_all(neumf.prediction_layer.weight, h)
    return neumf


def materialize(net):
    """Give `net`'s deferred parameters (Dense layers learn their input
    size from the first batch) their shapes and values: score one pair."""
    params = list(net.collect_params().values())
    if all(p._data is not None for p in params):
        return
    ctx = params[0].list_ctx()[0]
    zero = np.zeros((1,), dtype='int32', ctx=ctx)
    net(zero, zero)


def copy(target, source):
    """Parameter `target` := `source`'s value, on every context."""
    set_all(target, source.data().asnumpy())


def set_all(param, value):
    """Set `param` on each of its contexts to NumPy `value` (its shape)."""
    if tuple(param.shape) != value.shape:
        raise ValueError(f'{param.name}: shape {tuple(param.shape)}, the '
                         f'pre-trained value {value.shape}')
    param.set_data(np.array(value.astype(numpy.float32)))


USER_ROWS, ITEM_ROWS = ('P', 'U', 'user_bias'), ('Q', 'V', 'item_bias')


def row_l2(reg):
    """A training penalty for any of these models or NeuMF: `reg` times
    the squared embedding rows a batch uses (its users'; its positives'
    and negatives'), whichever embeddings the model has; for NeuMF the
    same as `model.embedding_l2`."""
    def penalty(net, users, items, negatives):
        negatives = negatives.reshape(-1)
        rows = [getattr(net, n)(users) for n in USER_ROWS if hasattr(net, n)]
        rows += [getattr(net, n)(i) for n in ITEM_ROWS if hasattr(net, n)
                 for i in (items, negatives)]
        return reg * sum((r ** 2).sum() for r in rows)
    return penalty
