# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab: build NeuMF from its parts (120 minutes, CPU only)
#
# [![Open in Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/OWNER/d2l_ncf/HEAD?labpath=notebooks%2Flab.ipynb)
#
# For students who have read section 16.6 of *Dive into Deep Learning*
# ("Neural Collaborative Filtering for Personalized Ranking"), or
# followed `class.ipynb`. You write the BPR loss, build GMF and the MLP
# as models of their own and train them, **fuse them into NeuMF and
# start it from your trained parts**, write Hit@$\ell$ and AUC with ties
# counted in expectation, and use them to see through the chapter's
# printed line. Nothing needs a GPU. Work in pairs.
#
# **How the lab works.** Each thing to build is a code cell with a
# `# TODO`: the math and the shapes to produce, not the code. Until you
# fill it in, running it stops with `NotImplementedError: fill this in:
# ...`. Replace each `raise NotImplementedError(...)` with your code, run
# the cell, then the *check* cell below it: it says `right.`, or what is
# not right yet and the likely reason. Where a question says
# **Predict**, write your prediction down before you run anything.
#
# **Python 3.12 (Colab) cannot run this**: MXNet 1.9 has no wheels past
# Python 3.11. Quickest way in: the Binder badge above; or, before the
# lab, Python 3.11 and `pip install -r binder/requirements.txt` from the
# repository's folder, then run part 0 once (it checks everything and
# fetches the data).
#
# | part | what | minutes |
# |---|---|---|
# | 0 | setup: environment, data, the training loop | 10 |
# | 1 | the BPR loss | 10 |
# | 2 | GMF: build it, train it | 15 |
# | 3 | the MLP: build it, train it | 15 |
# | 4 | fuse them into NeuMF; start it from your parts | 25 |
# | 5 | Hit@$\ell$ and AUC with ties | 20 |
# | 6 | the ablation: your table against the committed one | 10 |
# | 7 | the chapter's line, seen through | 10 |
# | 8 | discussion | 5 |
#
# Running late? Part 7 can be done at home; keep part 4.
#
# **Notation** (as in `class.ipynb`): $m$ users, $n$ items, $k$ factors
# per embedding; $\mathbf{P}, \mathbf{Q}$ GMF's user and item
# embeddings, $\mathbf{U}, \mathbf{V}$ the MLP's, $\mathbf{h}$ the
# prediction layer's weights; $\ell$ the cut-off of Hit@$\ell$;
# $\mathbf{1}$ the indicator. A batch holds $B$ triples $(u, i, j)$:
# a user, a film they watched, a film they did not.
#
# **Tools** (MXNet Gluon; `np` is MXNet's NumPy interface, `numpy` is
# NumPy): `nn.Embedding(rows, columns)`; `nn.Dense(units, activation=None
# or 'relu', use_bias=True or False)`; `nn.Sequential()` and its
# `.add(layer)`; `np.concatenate([a, b], axis=1)`; `np.log`,
# `npx.sigmoid`; `layer.weight.data()` reads a parameter and
# `layer.weight.set_data(array)` overwrites it.
#
# ## 0. Setup (10 minutes)

# %%
import sys

if not (3, 8) <= sys.version_info[:2] <= (3, 11):  # before any import
    raise RuntimeError(
        f'Python {sys.version.split()[0]}: MXNet 1.9 has no wheels past '
        f'Python 3.11 (Colab runs 3.12). Quickest way in: the Binder badge '
        f'at the top; or a 3.11 environment and pip install -r '
        f'binder/requirements.txt (README.md, "Teach with it").')
try:  # check_env.py sits beside this notebook, in notebooks/
    from check_env import check_environment
except ImportError:  # opened on its own: from a download, or in Colab
    raise RuntimeError(
        'check_env.py is not beside this notebook: run it from the '
        'notebooks/ folder of a clone, with the package installed '
        '(pip install -r binder/requirements.txt).') from None

data_dir = check_environment()  # None: the package downloads the data

# %% [markdown]
# Settings (the tests run the lab with small values put in after this
# cell):

# %% tags=["parameters", "no-output"]
fit_epochs = 6           # per training run of parts 2-4
lab_epochs = 3           # the chapter's run in part 7 (the book: 10)
ell = 50                 # the cut-off ℓ (the chapter's)
devices_spec = 'cpu:2'   # the chapter's run: two CPU contexts

# %% [markdown]
# The data and the training loop. `fit` is the chapter's loop reduced to
# its core, on one device: each epoch shuffles the training pairs, draws
# one negative per pair uniformly from the films the user has not
# watched (as the chapter's `PRDataset` does), and takes an Adam step
# per batch of 1,024. At the end it prints the mean loss per triple and
# scores the model with the corrected evaluator (`lab_checks.evaluate`:
# every unseen film ranked, ties in expectation). Read it: you will call
# it with your models and your loss.

# %% tags=["no-output"]
import time

import d2l_ncf as ncf  # before MXNet: portable CPU arithmetic
import lab_checks
from lab_checks import (check_bpr, check_from_parts, check_gmf,
                        check_hit_and_auc, check_mlp, check_neumf)
import mxnet as mx
import numpy
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

npx.set_np()
data = ncf.load_chapter_data(data_dir)
num_users, num_items = data.num_users, data.num_items
users_train = numpy.array(data.users_train)
items_train = numpy.array(data.items_train)
seen = numpy.zeros((num_users, num_items), bool)  # watched in training
seen[users_train, items_train] = True


def fit(make_net, loss, epochs=None, init=0.01, wd=1e-5, lr=0.01,
        initialize=True):
    """Train the net `make_net()` returns with `loss` (scores of
    positives, of negatives -> one loss per triple): Adam, batch 1,024,
    seed 0; weights from Normal(`init`) unless `initialize` is False.
    Returns the net and the corrected evaluator's metrics, or (None,
    None) while a TODO it needs is not done."""
    rng = numpy.random.RandomState(0)
    mx.random.seed(0)
    try:
        net = make_net()
        if initialize:
            net.initialize(init=mx.init.Normal(init), force_reinit=True)
        trainer = gluon.Trainer(net.collect_params(), 'adam',
                                {'learning_rate': lr, 'wd': wd})
        tic = time.perf_counter()
        for epoch in range(epochs or fit_epochs):
            order = rng.permutation(len(users_train))
            u, i = users_train[order], items_train[order]
            j = rng.randint(0, num_items, len(u))
            while seen[u, j].any():  # redraw the films the user watched
                again = seen[u, j]
                j[again] = rng.randint(0, num_items, again.sum())
            total = 0.0
            for start in range(0, len(u), 1024):
                batch = [np.array(a[start:start + 1024]) for a in (u, i, j)]
                with autograd.record():
                    l = loss(net(batch[0], batch[1]),
                             net(batch[0], batch[2]))
                l.backward()
                trainer.step(len(batch[0]))
                total += float(l.sum())
    except NotImplementedError as err:
        print(f'not trained: {err} (a TODO cell is not filled in yet)')
        return None, None
    result = lab_checks.evaluate(net, data, ell)
    print(f"loss {total / len(u):.3f}, Hit@{ell} {result['hit_rate']:.3f}, "
          f"AUC {result['auc']:.3f}, NDCG@{ell} {result['ndcg']:.3f} "
          f"({time.perf_counter() - tic:.0f} s)")
    return net, result


print(f'{num_users} users, {num_items} films, {len(users_train)} '
      f'training pairs; each user\'s latest film held out')

# %% [markdown]
# ## 1. The BPR loss (10 minutes)
#
# For a triple $(u, i, j)$, BPR asks the watched film's score to beat
# the other's:
#
# $$J(u, i, j) = -\ln\sigma(\hat{y}_{ui} - \hat{y}_{uj}), \qquad
# \sigma(x) = \frac{1}{1 + e^{-x}}.$$
#
# `positive` and `negative` are the scores $\hat{y}_{ui}$ and
# $\hat{y}_{uj}$ of a batch, each of shape $(B, 1)$. Return one loss per
# triple, shape $(B, 1)$ (`fit` sums them).

# %% tags=["todo"]
def bpr(positive, negative):
    """-ln sigma(positive - negative), one value per triple."""
    # TODO: the BPR loss of each triple
    # J = -ln sigma(y_ui - y_uj), shape (B, 1)
    ### BEGIN ANSWER
    return -np.log(npx.sigmoid(positive - negative))
    ### END ANSWER


bpr(np.array([[0.0], [3.0]]), np.array([[0.0], [1.0]]))


# %%
check_bpr(bpr)

# %% [markdown]
# **Predict** (no code): if a model gives every pair the same score,
# what is its BPR loss per triple, whatever the data? Keep the number:
# it comes back in part 7.

# %% [markdown] tags=["answer"]
# **Answer.** $-\ln\sigma(0) = -\ln\frac12 = \ln 2 \approx 0.693$: the
# first value `bpr` printed above, for two equal scores.

# %% [markdown]
# ## 2. GMF (15 minutes)
#
# NeuMF's first half as a model of its own, generalised matrix
# factorisation:
#
# $$\mathbf{x} = \mathbf{p}_u \odot \mathbf{q}_i, \qquad
# \hat{y}_{ui} = \mathbf{h}^\top \mathbf{x},$$
#
# $\odot$ the element-wise product. No activation on the output (BPR
# takes logits) and no bias. Name the layers `P`, `Q` and
# `prediction_layer`: the checks read them.

# %% tags=["todo"]
class GMF(nn.Block):
    """h^T (p_u * q_i): one score per (user, item) pair."""
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super().__init__(**kwargs)
        # TODO: GMF's layers
        # P: m x k (a row p_u per user); Q: n x k (a row q_i per item);
        # prediction_layer: h, k numbers to 1 score, no bias, no activation
        ### BEGIN ANSWER
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.prediction_layer = nn.Dense(1, use_bias=False)
        ### END ANSWER

    def forward(self, user_id, item_id):
        # TODO: GMF's score
        # user_id, item_id: (B,); x = p_u * q_i: (B, k); return h^T x: (B, 1)
        ### BEGIN ANSWER
        return self.prediction_layer(self.P(user_id) * self.Q(item_id))
        ### END ANSWER


GMF(4, 3, 5)  # 4 factors, 3 users, 5 items: its layers


# %%
check_gmf(GMF)

# %% [markdown]
# Train it with your loss, the chapter's settings (Adam, lr 0.01, weight
# decay $10^{-5}$, weights from Normal(0.01)), `fit_epochs` epochs:

# %%
gmf, gmf_result = fit(lambda: GMF(10, num_users, num_items), bpr)

# %% [markdown]
# ## 3. The MLP (15 minutes)
#
# NeuMF's second half: its own embeddings $\mathbf{U}, \mathbf{V}$,
# joined, through dense ReLU layers of the widths in `nums_hiddens`,
# then $\mathbf{h}$ (again no activation, no bias):
#
# $$\mathbf{z}^{(1)} = [\mathbf{U}_u, \mathbf{V}_i], \quad
# \mathbf{z}^{(r)} = \mathrm{ReLU}(\mathbf{W}^{(r)} \mathbf{z}^{(r-1)} +
# \mathbf{b}^{(r)}), \quad \hat{y}_{ui} = \mathbf{h}^\top
# \mathbf{z}^{(L)}.$$
#
# $[\cdot, \cdot]$ joins two vectors end to end. Name the layers `U`,
# `V`, `mlp` (a sequence of the dense layers) and `prediction_layer`.

# %% tags=["todo"]
class MLP(nn.Block):
    """h^T MLP([u_u, v_i]): one score per (user, item) pair."""
    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 **kwargs):
        super().__init__(**kwargs)
        # TODO: the MLP's layers
        # U: m x k; V: n x k; mlp: one dense ReLU layer per width in
        # nums_hiddens, in order; prediction_layer: h, no bias or activation
        ### BEGIN ANSWER
        self.U = nn.Embedding(num_users, num_factors)
        self.V = nn.Embedding(num_items, num_factors)
        self.mlp = nn.Sequential()
        for num_hiddens in nums_hiddens:
            self.mlp.add(nn.Dense(num_hiddens, activation='relu'))
        self.prediction_layer = nn.Dense(1, use_bias=False)
        ### END ANSWER

    def forward(self, user_id, item_id):
        # TODO: the MLP's score
        # z1 = [U_u, V_i]: (B, 2k); z_L = mlp(z1): (B, nums_hiddens[-1]);
        # return h^T z_L: (B, 1)
        ### BEGIN ANSWER
        z = np.concatenate([self.U(user_id), self.V(item_id)], axis=1)
        return self.prediction_layer(self.mlp(z))
        ### END ANSWER


MLP(4, 3, 5, [8, 6])  # two dense layers, 8 and 6 wide


# %%
check_mlp(MLP)

# %% [markdown]
# Train it as GMF was, but from weights ten times larger, Normal(0.1)
# (`d2l-ncf ablation`'s recipe for the MLP). **Predict:** why might the
# MLP need a larger start than GMF? (From Normal(0.01) its loss stays at
# the value of part 1: try it at home, `fit(lambda: MLP(...), bpr)`.)

# %%
mlp, mlp_result = fit(lambda: MLP(10, num_users, num_items, [10, 10, 10]),
                      bpr, init=0.1)

# %% tags=["answer"]
# the key only: the MLP from the chapter's Normal(0.01)
small_mlp, small_mlp_result = fit(
    lambda: MLP(10, num_users, num_items, [10, 10, 10]), bpr)

# %% [markdown] tags=["answer"]
# **Answer.** The MLP's embeddings reach the score through three dense
# layers: from Normal(0.01) every layer multiplies a small signal by
# small weights, so the data's gradient on the embeddings is tiny while
# the weight decay pulls every row towards zero at every step, and the
# scores collapse to one value: the cell above ends at part 1's loss and
# at chance. GMF's embeddings are one layer from the score.

# %% [markdown]
# ## 4. Fuse them: NeuMF (25 minutes)
#
# NeuMF keeps both halves, each with its own embeddings, and reads both
# with one prediction layer:
#
# $$\hat{y}_{ui} = \mathbf{h}^\top [\mathbf{x}, \mathbf{z}^{(L)}],$$
#
# $\mathbf{x}$ GMF's $k$ products, $\mathbf{z}^{(L)}$ the MLP's last
# layer, GMF's first. (The chapter puts a sigmoid on this; we do not,
# for the reason part 7 shows.) Use the layer names of parts 2 and 3.

# %% tags=["todo"]
class NeuMF(nn.Block):
    """h^T [p_u * q_i, MLP([u_u, v_i])]."""
    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 **kwargs):
        super().__init__(**kwargs)
        # TODO: NeuMF's layers
        # P, Q as GMF's; U, V, mlp as the MLP's; prediction_layer: h,
        # k + nums_hiddens[-1] numbers to 1 score, no bias or activation
        ### BEGIN ANSWER
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.U = nn.Embedding(num_users, num_factors)
        self.V = nn.Embedding(num_items, num_factors)
        self.mlp = nn.Sequential()
        for num_hiddens in nums_hiddens:
            self.mlp.add(nn.Dense(num_hiddens, activation='relu'))
        self.prediction_layer = nn.Dense(1, use_bias=False)
        ### END ANSWER

    def forward(self, user_id, item_id):
        # TODO: NeuMF's score
        # x: (B, k); z_L: (B, nums_hiddens[-1]); [x, z_L]: (B, k +
        # nums_hiddens[-1]); return h^T [x, z_L]: (B, 1)
        ### BEGIN ANSWER
        x = self.P(user_id) * self.Q(item_id)
        z = self.mlp(np.concatenate([self.U(user_id), self.V(item_id)],
                                    axis=1))
        return self.prediction_layer(np.concatenate([x, z], axis=1))
        ### END ANSWER


NeuMF(4, 3, 5, [8, 6])


# %%
check_neumf(NeuMF)

# %% [markdown]
# **Start it from your trained parts**, as the NCF paper does: copy
# GMF's $\mathbf{P}, \mathbf{Q}$ and the MLP's $\mathbf{U}, \mathbf{V}$
# and dense layers into a new NeuMF, and make its $\mathbf{h}$ from the
# parts' own, weighted by $\alpha$:
#
# $$\mathbf{h} = [\alpha\,\mathbf{h}_{\text{GMF}},\ (1 - \alpha)\,
# \mathbf{h}_{\text{MLP}}].$$
#
# Then, before any training, the fused score is exactly $\alpha$ times
# GMF's plus $1 - \alpha$ times the MLP's (why?). Read the sizes off the
# parts (`gmf.P.weight.shape` is $(m, k)$; a dense layer's weight is
# (outputs, inputs)). A parameter's shape is known only once the model
# has run: initialise the new NeuMF and run it once on any pair before
# you copy into it. Copy values; do not share the parts' parameters.

# %% tags=["todo"]
def from_parts(gmf, mlp, alpha=0.5):
    """A NeuMF holding copies of trained `gmf`'s and `mlp`'s weights."""
    # TODO: a NeuMF holding copies of the parts
    # its sizes read off gmf and mlp;
    # P, Q from gmf; U, V and each dense layer's W and b from mlp;
    # h = [alpha h_gmf, (1 - alpha) h_mlp]: (1, k + nums_hiddens[-1])
    ### BEGIN ANSWER
    net = NeuMF(gmf.P.weight.shape[1], gmf.P.weight.shape[0],
                gmf.Q.weight.shape[0],
                [layer.weight.shape[0] for layer in mlp.mlp])
    net.initialize()
    net(np.array([0]), np.array([0]))  # now every shape is known
    for name, part in (('P', gmf), ('Q', gmf), ('U', mlp), ('V', mlp)):
        getattr(net, name).weight.set_data(
            getattr(part, name).weight.data().copy())
    for mine, theirs in zip(net.mlp, mlp.mlp):
        mine.weight.set_data(theirs.weight.data().copy())
        mine.bias.set_data(theirs.bias.data().copy())
    net.prediction_layer.weight.set_data(np.concatenate(
        [alpha * gmf.prediction_layer.weight.data(),
         (1 - alpha) * mlp.prediction_layer.weight.data()], axis=1))
    return net
    ### END ANSWER


from_parts(gmf, mlp).prediction_layer.weight.shape  # (1, k + last width)


# %%
check_from_parts(from_parts, GMF, MLP)

# %% [markdown]
# Now two NeuMFs, `fit_epochs` epochs each. **Predict** first: which
# ranks better, NeuMF from scratch (Normal(0.1), the MLP's start) or
# NeuMF from your parts, and does either beat your GMF? (The NCF paper
# fine-tunes a pre-trained NeuMF with plain SGD; with Adam we lower the
# learning rate tenfold so the first steps do not undo the parts.)

# %%
neumf, neumf_result = fit(
    lambda: NeuMF(10, num_users, num_items, [10, 10, 10]), bpr, init=0.1)

# %%
neumf_pre, pre_result = fit(lambda: from_parts(gmf, mlp), bpr,
                            initialize=False, lr=0.001)

# %% [markdown]
# ## 5. Hit@$\ell$ and AUC, with ties (20 minutes)
#
# For one user: `scores` are the model's scores of the user's list of
# $N$ unseen films (a list or a NumPy array), `test` the position in it
# of the held-out film. Let $a$ be the number of films scoring more than
# the test film and $t$ the number of *other* films scoring the same.
# A random order of the tied films puts the test film at each rank
# $r = a + 1, \dots, a + t + 1$ with chance $1/(t + 1)$; each metric is
# its average over them:
#
# $$\mathrm{Hit}@\ell = \frac{1}{t + 1} \sum_{r = a + 1}^{a + t + 1}
# \mathbf{1}[r \le \ell], \qquad
# \mathrm{AUC} = \frac{1}{t + 1} \sum_{r = a + 1}^{a + t + 1}
# \frac{N - r}{N - 1}.$$
#
# (The AUC sum has a closed form; the loop is fine too.) Return the
# pair (Hit@$\ell$, AUC) as two floats. The check tries a hand-worked
# list and a constant scorer, each as a list and as an array.

# %% tags=["todo"]
def hit_and_auc(scores, test, ell):
    """(Hit@ell, AUC) for one user's list, ties in expectation."""
    # TODO: Hit@ell and AUC, ties in expectation
    # a = films above scores[test], t = others tied with it; average
    # 1[r <= ell] and (N - r) / (N - 1) over r = a+1 .. a+t+1
    ### BEGIN ANSWER
    scores = numpy.asarray(scores, dtype=float)
    above = int((scores > scores[test]).sum())
    tied = int((scores == scores[test]).sum()) - 1
    ranks = numpy.arange(above + 1, above + tied + 2)
    n = len(scores)
    return (float(numpy.mean(ranks <= ell)),
            float(numpy.mean((n - ranks) / (n - 1))))
    ### END ANSWER


hit_and_auc([0.9, 0.5, 0.5, 0.5, 0.1], 2, 2)


# %%
check_hit_and_auc(hit_and_auc)

# %% [markdown]
# Yours on a real model: your GMF's list for each of the first 100
# users, against the reference evaluator on the same users.

# %%
def by_hand(net, users):
    hits, aucs = [], []
    for u in users:
        items = numpy.flatnonzero(~seen[u])  # the films u has not watched
        scores = net(np.array(numpy.full(len(items), u)),
                     np.array(items)).asnumpy().ravel()
        test = int(numpy.flatnonzero(items == data.test_iter[u][0])[0])
        hit, auc = hit_and_auc(scores, test, ell)
        hits.append(hit)
        aucs.append(auc)
    return numpy.mean(hits), numpy.mean(aucs)


few = range(min(100, num_users))
try:
    if gmf is None:
        raise NotImplementedError('train your GMF first (part 2)')
    mine = by_hand(gmf, few)
    ref = lab_checks.evaluate(gmf, data, ell, users=few)
    print(f"yours: Hit@{ell} {mine[0]:.4f}, AUC {mine[1]:.4f}; the "
          f"reference: {ref['hit_rate']:.4f}, {ref['auc']:.4f}")
except NotImplementedError as err:
    print(f'not yet: {err}')

# %% [markdown]
# ## 6. The ablation: what each half buys (10 minutes)
#
# **Predict first**: order the models by Hit@$\ell$, best first, in the
# next cell: a most-popular list (every user gets the films most users
# watched; no learning), GMF, the MLP, NeuMF from scratch, NeuMF from
# your parts.

# %% tags=["no-output"]
my_prediction = []  # best first: popularity, gmf, mlp, neumf, neumf-pre

# %% tags=["answer", "no-output"]
# the key's prediction: the NCF paper's, fusion first
my_prediction = ['neumf-pre', 'neumf', 'gmf', 'mlp', 'popularity']


# %% [markdown]
# The most-popular list needs no training: it scores a film by its
# number of training pairs, whoever asks.

# %% tags=["no-output"]
class Popularity(nn.Block):
    """Scores a film by its number of training pairs."""
    counts = np.array(numpy.bincount(items_train, minlength=num_items)
                      .astype('float32'))

    def forward(self, user_id, item_id):
        return self.counts[item_id].reshape(-1, 1)


# %% [markdown]
# Your table, best first, beside your prediction, with the noise a gap
# must pass:

# %%
results = {'popularity': lab_checks.evaluate(Popularity(), data, ell),
           'gmf': gmf_result, 'mlp': mlp_result, 'neumf': neumf_result,
           'neumf-pre': pre_result}
done = {name: r for name, r in results.items() if r is not None}
print(f"{'model':11} {'Hit@%d' % ell:>8} {'AUC':>6}")
for name, r in sorted(done.items(), key=lambda kv: -kv[1]['hit_rate']):
    print(f"{name:11} {r['hit_rate']:8.3f} {r['auc']:6.3f}")
print('your prediction:', ' > '.join(my_prediction) or
      'none written: fill in my_prediction above first')
p = max(r['hit_rate'] for r in done.values())  # the best hit rate
se = (p * (1 - p) / num_users) ** 0.5
print(f'noise: a hit rate of {p:.3f} is uncertain by {se:.3f} (binomial '
      f'standard error); two differ beyond noise past '
      f'{2 * 2 ** 0.5 * se:.3f}')

# %% [markdown]
# The ablation committed with the package (`d2l-ncf ablation`, three
# seeds, every model's settings chosen on a validation film;
# `docs/results/ablation/`):

# %%
import csv
import os

with open(os.path.join('..', 'docs', 'results', 'ablation',
                       'ablation.csv')) as f:
    committed = [row for row in csv.DictReader(f) if row['eval'] == 'full']
print(f"committed, mean of {committed[0]['n']} seeds:")
for row in sorted(committed, key=lambda r: -float(r['hit_rate'])):
    print(f"{row['model']:11} {float(row['hit_rate']):8.3f} "
          f"{float(row['auc']):6.3f}")

# %% [markdown] tags=["answer"]
# **Answer.** Read the two tables against the noise line. After six
# epochs with the chapter's settings your table can put NeuMF well ahead
# of GMF and the MLP, beyond the noise: one shared setting (this decay,
# six epochs, this start) suits some models better than others. The
# committed ablation chooses each model's epochs, decay and start on a
# validation film, and there NeuMF, NeuMF from its parts, GMF and plain
# MF come out level, the MLP below them, and the most-popular list below
# every model that learns. An ablation compares models each at its
# best. NeuMF from your parts starts as $\alpha$ GMF + $(1 - \alpha)$
# MLP and, fine-tuned gently, need not overtake NeuMF from scratch in
# six epochs; in the committed ablation (plain SGD, as the NCF paper
# fine-tunes) it is level with NeuMF. Once every model is tuned the
# fusion buys nothing measurable here: nearly all of NeuMF's ranking
# comes from the product of embeddings, as Rendle et al. (RecSys 2020)
# found of a tuned dot product.

# %% [markdown]
# ## 7. The chapter's line, seen through (10 minutes)
#
# The chapter's own code (its NeuMF with the sigmoid, its evaluator)
# for `lab_epochs` epochs on two devices; the package runs
# `d2l_ncf/chapter.py` as printed. **Predict:** what does it print,
# against the book's `train loss 16.982, test hit rate 0.075, test AUC
# 0.531` after 10 epochs?

# %%
book, lines = ncf.run_quietly(ncf.TrainConfig(
    protocol='book', devices=devices_spec, num_epochs=lab_epochs))
print('\n'.join(lines))

# %% [markdown]
# Now a model that scores every film alike, through *your* metric, over
# every user's whole list: chance, by your part 5. What does the
# chapter's 0.531 say, then?

# %%
try:
    class Constant(nn.Block):
        def forward(self, user_id, item_id):
            return np.zeros((len(user_id), 1))
    hit, auc = by_hand(Constant(), range(num_users))
    print(f'a constant scorer, every film ranked, ties in expectation: '
          f'Hit@{ell} {hit:.3f}, AUC {auc:.3f}')
except NotImplementedError as err:
    print(f'not yet: {err}')

# %% [markdown] tags=["answer"]
# **Answer.** The chapter's run prints the book's hit rate and AUC after
# any number of epochs: its model gives every pair the same score within
# the first epoch (the loss it learns at is part 1's $\ln 2$; its
# printed loss adds a running total every batch, so it is not a mean).
# With every score tied, Python's `sorted` keeps the films in id order,
# and the chapter ranks only ids below the number of users: 0.075 and
# 0.531 are what that order gives on this split. Counted in expectation,
# a constant scorer gets AUC 0.5 and a Hit@$\ell$ near $\ell/N$: the
# book's figures are not evidence of learning. `class.ipynb` explains
# the collapse (the sigmoid, the small start and Adam's weight decay).

# %% [markdown]
# ## 8. Discussion (5 minutes)
#
# * Which of the chapter's defects change what it *reports*, and which
#   change what the model *learns*? Which would a constant scorer,
#   checked first, have revealed?
# * Is NeuMF's second set of embeddings worth it here? What would you
#   run to be sure (seeds, epochs, a validation set for the settings)?
# * When would two models with the same Hit@$\ell$ differ in NDCG@$\ell$?
