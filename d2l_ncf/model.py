"""The NeuMF network of the chapter: GMF and an MLP, fused."""
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from mxnet.gluon import nn


class NeuMF(nn.HybridBlock):
    """Neural matrix factorisation (He et al., 2017), as in d2l 16.6.

    GMF uses embeddings P, Q; the MLP its own U, V. The prediction layer
    maps ``[gmf, mlp]`` to one score per (user, item) pair: a sigmoid, as
    in the chapter, or with ``sigmoid_output=False`` the logit itself,
    which is what a pairwise loss should see (docs/ERRATA.md).

    The chapter's class is an ``nn.Block``; this one has the same layers
    as a ``HybridBlock``, so ``net.hybridize()`` can compile it (the fast
    path does). Unhybridized it runs exactly as the chapter's.
    """
    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 sigmoid_output=True, **kwargs):
        super(NeuMF, self).__init__(**kwargs)
        # Ours: the name scope numbers the layers' parameters from 0 in
        # every net. Without it they count across all nets of the process,
        # and gluon.Trainer, which orders parameters by name, would give a
        # saved optimizer state to the wrong parameter on loading.
        with self.name_scope():
            self.P = nn.Embedding(num_users, num_factors)
            self.Q = nn.Embedding(num_items, num_factors)
            self.U = nn.Embedding(num_users, num_factors)
            self.V = nn.Embedding(num_items, num_factors)
            self.mlp = mlp_tower(nums_hiddens)
            self.prediction_layer = nn.Dense(
                1, activation='sigmoid' if sigmoid_output else None,
                use_bias=False)

    def hybrid_forward(self, F, user_id, item_id):
        p_mf = self.P(user_id)
        q_mf = self.Q(item_id)
        gmf = p_mf * q_mf  # (batch, num_factors)
        p_mlp = self.U(user_id)
        q_mlp = self.V(item_id)
        # (batch, 2 * num_factors) -> (batch, nums_hiddens[-1])
        mlp = self.mlp(concatenate(F, [p_mlp, q_mlp]))
        con_res = concatenate(F, [gmf, mlp])
        return self.prediction_layer(con_res)  # (batch, 1)


def mlp_tower(nums_hiddens):
    """The chapter's MLP: a ReLU Dense layer per entry of `nums_hiddens`.

    Called inside a block's name scope, its layers are named in that
    block's scope (``neumf0_dense0_...``), as the chapter's are.
    """
    mlp = nn.HybridSequential()
    for num_hiddens in nums_hiddens:
        mlp.add(nn.Dense(num_hiddens, activation='relu', use_bias=True))
    return mlp


def concatenate(F, arrays):
    """``np.concatenate(arrays, axis=1)``, the same values, faster.

    MXNet 1.9's NumPy-interface concatenate takes about 27 ms to join two
    (131072, 10) arrays on this 2-core CPU, its legacy ``concat`` 10 ms;
    in scoring it was 80% of the evaluation time (MXNet's profiler).
    Autograd and hybridization work through the conversion unchanged.
    """
    return F.concat(*[a.as_nd_ndarray() for a in arrays],
                    dim=1).as_np_ndarray()


def embedding_l2(reg):
    """A training penalty: `reg` times the squared embedding rows a batch
    uses (users' P and U, positives' and negatives' Q and V).

    Ours, for the corrected protocol. Unlike the optimizer's weight decay,
    which MXNet applies to every row of an embedding at every step -- the
    cause of the chapter's collapse (docs/ERRATA.md) -- it shrinks only
    the rows the batch trains, as matrix-factorisation papers regularise.
    """
    def penalty(net, users, items, negatives):
        negatives = negatives.reshape(-1)
        rows = [net.P(users), net.U(users), net.Q(items), net.V(items),
                net.Q(negatives), net.V(negatives)]
        return reg * sum((r ** 2).sum() for r in rows)
    return penalty
