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
import numbers

import numpy
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from mxnet import autograd, np
from mxnet.gluon import nn

from .model import concatenate, mlp_tower


def count(value, name, owner):
    """`value` as a whole number >= 1, else a TypeError or ValueError
    naming argument `name` of `owner`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{owner}: {name} = {value!r}; expected a whole '
                        f'number (an int) >= 1')
    if value < 1:
        raise ValueError(f'{owner}: {name} = {value}; expected a whole '
                         f'number >= 1')
    return int(value)


def indices(values, size, what, owner):
    """`values` (an array of `what` indices) as int64, each a whole number
    from 0 to `size` - 1; else a ValueError naming the first wrong one.
    MXNet's embeddings would clip it silently to a row that exists."""
    if hasattr(values, 'asnumpy'):
        values = values.asnumpy()
    values = numpy.asarray(values)
    if values.dtype == bool or not (
            numpy.issubdtype(values.dtype, numpy.integer)
            or numpy.issubdtype(values.dtype, numpy.floating)):
        raise TypeError(f'{owner}: {what} indices of type {values.dtype}; '
                        f'expected whole numbers')
    if numpy.issubdtype(values.dtype, numpy.floating):
        whole = numpy.isfinite(values) & (values == numpy.floor(values))
        if not whole.all():
            raise ValueError(f'{owner}: {what} index '
                             f'{_number(values[~whole].flat[0])} is not a '
                             f'whole number; expected indices 0 to '
                             f'{size - 1}')
    outside = (values < 0) | (values >= size)
    if outside.any():
        raise ValueError(f'{owner}: {what} index '
                         f'{_number(values[outside].flat[0])} '
                         f'is outside 0 to {size - 1} (the model has {size} '
                         f'{what}s)')
    return values.astype(numpy.int64)


def _number(x):
    """`x` as written: 7 for 7.0, 1.5 for 1.5."""
    x = x.item()
    return int(x) if isinstance(x, float) and x.is_integer() else x


class Checked:
    """A model of this module scored outside training refuses indices
    its tables do not hold (training's sampler draws only valid ones, so
    the check costs training nothing)."""

    def forward(self, user_id, *args):
        if args and not autograd.is_recording() and hasattr(
                user_id, 'asnumpy'):  # not when exported as a Symbol
            owner = type(self).__name__
            if self.num_users is not None:
                indices(user_id, self.num_users, 'user', owner)
            indices(args[0], self.num_items, 'item', owner)
        return super().forward(user_id, *args)


class Popularity(Checked, nn.HybridBlock):
    """Scores an item by how often it occurs in training, whoever asks.

    The counts sit in a one-column embedding that is never trained
    (``grad_req='null'``); `fit` sets them. Many items share a count, so
    its rankings hold many ties: the evaluators count them in
    expectation.
    """
    def __init__(self, num_items, **kwargs):
        num_items = count(num_items, 'num_items', 'Popularity')
        super().__init__(**kwargs)
        with self.name_scope():
            self.counts = nn.Embedding(num_items, 1)
        self.counts.weight.grad_req = 'null'
        self.num_users, self.num_items, self.fitted = None, num_items, False

    def fit(self, items_train):
        """Count each item in `items_train` (item indices, each a whole
        number from 0 to num_items - 1); returns self. Initialise the
        block first (`initialize(ctx=devices)`)."""
        items = indices(items_train, self.num_items, 'item',
                        'Popularity.fit').reshape(-1)
        counts = numpy.bincount(items, minlength=self.num_items)
        try:
            self.counts.weight.set_data(np.array(
                counts.reshape(-1, 1).astype(numpy.float32)))
        except RuntimeError:  # MXNet: "has not been initialized"
            raise RuntimeError(
                'Popularity.fit: initialise the block first '
                '(net.initialize(ctx=devices)), then fit it') from None
        self.fitted = True
        return self

    def forward(self, user_id, *args):
        if not self.fitted:  # its counts would be random weights
            raise RuntimeError('Popularity: not fitted; call '
                               'fit(items_train) before scoring')
        return super().forward(user_id, *args)

    def hybrid_forward(self, F, user_id, item_id):
        return self.counts(item_id)  # (batch, 1): the same for every user


class MF(Checked, nn.HybridBlock):
    """Matrix factorisation with biases: ``p_u . q_i + b_u + b_i``.

    The baseline Rendle et al. (RecSys 2020) found, well tuned, to beat
    NeuMF under the NCF paper's own protocol. Under a pairwise loss the
    user bias cancels out; it is kept so the model is the textbook one.
    """
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        num_factors, num_users, num_items = sizes(
            'MF', num_factors, num_users, num_items)
        super().__init__(**kwargs)
        self.num_users, self.num_items = num_users, num_items
        with self.name_scope():
            self.P = nn.Embedding(num_users, num_factors)
            self.Q = nn.Embedding(num_items, num_factors)
            self.user_bias = nn.Embedding(num_users, 1)
            self.item_bias = nn.Embedding(num_items, 1)

    def hybrid_forward(self, F, user_id, item_id):
        dot = (self.P(user_id) * self.Q(item_id)).sum(axis=1, keepdims=True)
        return dot + self.user_bias(user_id) + self.item_bias(item_id)


class GMF(Checked, nn.HybridBlock):
    """NeuMF's generalised matrix factorisation path with its own output
    layer: ``h^T (p_u * q_i)``, no bias (NeuMF's prediction layer has
    none)."""
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        num_factors, num_users, num_items = sizes(
            'GMF', num_factors, num_users, num_items)
        super().__init__(**kwargs)
        self.num_users, self.num_items = num_users, num_items
        with self.name_scope():
            self.P = nn.Embedding(num_users, num_factors)
            self.Q = nn.Embedding(num_items, num_factors)
            self.prediction_layer = nn.Dense(1, use_bias=False)

    def hybrid_forward(self, F, user_id, item_id):
        gmf = self.P(user_id) * self.Q(item_id)  # (batch, num_factors)
        return self.prediction_layer(gmf)  # (batch, 1)


class MLP(Checked, nn.HybridBlock):
    """NeuMF's MLP path with its own output layer: the user's and item's
    embeddings joined, the chapter's ReLU tower, ``h^T`` of its output."""
    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 **kwargs):
        num_factors, num_users, num_items = sizes(
            'MLP', num_factors, num_users, num_items)
        if isinstance(nums_hiddens, (str, bytes)) or not hasattr(
                nums_hiddens, '__iter__'):
            raise TypeError(f'MLP: nums_hiddens = {nums_hiddens!r}; expected '
                            f'a list of layer sizes, e.g. [10, 10]')
        nums_hiddens = [count(h, 'each of nums_hiddens', 'MLP')
                        for h in nums_hiddens]
        if not nums_hiddens:
            raise ValueError('MLP: nums_hiddens is empty; expected one or '
                             'more layer sizes')
        super().__init__(**kwargs)
        self.num_users, self.num_items = num_users, num_items
        with self.name_scope():
            self.U = nn.Embedding(num_users, num_factors)
            self.V = nn.Embedding(num_items, num_factors)
            self.mlp = mlp_tower(nums_hiddens)
            self.prediction_layer = nn.Dense(1, use_bias=False)

    def hybrid_forward(self, F, user_id, item_id):
        # (batch, 2 * num_factors) -> (batch, nums_hiddens[-1])
        mlp = self.mlp(concatenate(F, [self.U(user_id), self.V(item_id)]))
        return self.prediction_layer(mlp)  # (batch, 1)


def sizes(owner, num_factors, num_users, num_items):
    return (count(num_factors, 'num_factors', owner),
            count(num_users, 'num_users', owner),
            count(num_items, 'num_items', owner))


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
