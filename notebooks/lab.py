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
# # Lab: build NeuMF's parts (120 minutes, CPU only)
#
# For students who have read section 16.6 of *Dive into Deep Learning*
# ("Neural Collaborative Filtering for Personalized Ranking"). You build
# the two halves of NeuMF as models of their own, a ranking loss and a
# ranking metric, then measure what each half buys, and finish with
# three of the chapter's defects. Nothing needs a GPU: every cell runs
# on a 2-core laptop in the time given beside it. Work in pairs.
#
# **How the lab works.** Each thing to build is a code cell marked
# `# TODO`. Until you fill it in, running it stops with
# `NotImplementedError: fill this in: ...`. Replace each `raise
# NotImplementedError(...)` line with your code, run the cell, then run
# the *check* cell below it: it says `right.`, or what is not right yet.
# Where a question says **Predict**, write your prediction down before
# you run anything.
#
# **Before the lab**, install the package and run part 0 once
# (README.md, "Teach with it"): it checks the environment and loads the
# data, downloading it if needed. Its 10 minutes in the lab assume both
# already work.
#
# | part | what | minutes |
# |---|---|---|
# | 0 | setup: environment, data, a reference NeuMF | 10 |
# | 1 | build GMF alone | 15 |
# | 2 | build the MLP alone | 15 |
# | 3 | build the hinge loss; train GMF with it | 15 |
# | 4 | write NDCG@$\ell$ by hand, check it against the package | 20 |
# | 5 | the ablation: predict, then measure what each half buys | 20 |
# | 6 | three of the chapter's defects | 15 |
# | 7 | discussion | 10 |
#
# Running late? Parts 6b and 6c can be done at home, and the discussion
# can shrink to 5 minutes; keep part 5, the ablation question.
#
# Notation as in the notebook `notebooks/neumf.ipynb`: $m$ users, $n$
# items, $k$ factors; $\mathbf{P}, \mathbf{Q}$ GMF's embeddings,
# $\mathbf{U}, \mathbf{V}$ the MLP's; $\mathbf{h}$ the prediction layer's
# weights; $\ell$ the cut-off of Hit@$\ell$ and NDCG@$\ell$ (called `k`
# in the package's code).
#
# ## 0. Setup (10 minutes)
#
# First, is this environment ready? The cell says what to do if not.

# %%
import sys

if not (3, 8) <= sys.version_info[:2] <= (3, 11):  # before any import
    raise RuntimeError(
        f'Python {sys.version.split()[0]}: this notebook needs Python 3.8 '
        f'to 3.11 (MXNet 1.9 and numpy 1.23.5, which d2l 1.0.3 pins, have '
        f'no wheels for newer ones; Colab runs 3.12). Make a 3.11 '
        f'environment (README.md, "Teach with it": binder/, conda, pyenv '
        f'or uv) and choose its kernel.')
try:  # check_env.py sits beside this notebook, in notebooks/
    from check_env import check_environment
except ImportError:  # opened on its own: from a download, or in Colab
    raise RuntimeError(
        'check_env.py is not beside this notebook: the notebook runs in '
        'the notebooks/ folder of a clone of the repository, with the '
        'package installed from it (pip install -e ".[cpu]"; README.md, '
        '"Teach with it"). Start Jupyter there.') from None

data_dir = check_environment()  # None: the package downloads the data

# %% [markdown]
# Settings (the tests run the lab with small values injected after this
# cell):

# %% tags=["parameters", "no-output"]
batch_size = 1024        # the chapter's value
devices_spec = 'cpu:2'   # two CPU contexts, as the book's two GPUs
fit_epochs = 6           # per training run of parts 0-5 (fit)
lab_epochs = 3           # per run of the chapter's code, part 6 (book: 10)
k = 50                   # the cut-off ℓ (the chapter's)

# %% [markdown]
# The imports, the data, and the helpers: `bpr`, the chapter's loss per
# triple; `fit` trains any model with the corrected protocol's batches
# and evaluator (by default the chapter's
# settings: Adam, lr 0.01, weight decay 1e-5, Normal(0.01));
# `evaluate` scores a trained model with the corrected evaluator;
# `book_run` is the chapter's own run, for part 6. The check cells call
# `notebooks/lab_checks.py`, which prints one line each. As in the
# chapter, `np` is MXNet's NumPy interface (its arrays live on a device
# and feed the models); `numpy` is NumPy itself. (About 10 s.)

# %% tags=["no-output"]
import time

import d2l_ncf as ncf  # before MXNet: portable CPU arithmetic
import mxnet as mx
from lab_checks import (check_gmf, check_hinge, check_mlp, check_ndcg_at,
                        check_ndcg_by_hand)
import numpy
from d2l import mxnet as d2l
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

npx.set_np()
devices = ncf.parse_devices(devices_spec)
data = ncf.load_chapter_data(data_dir)
num_users, num_items = data.num_users, data.num_items
candidates, test_iter = data.candidates, data.test_iter
corrected = ncf.TrainConfig(protocol='corrected', batch_size=batch_size,
                            num_epochs=fit_epochs, k=k)


def bpr(positive, negative):
    """The BPR loss of each (positive, negative) pair of scores:
    -ln sigmoid(positive - negative), as d2l's BPRLoss before its sum."""
    return -np.log(npx.sigmoid(positive - negative))


def fit(make_net, loss=bpr, epochs=None, wd=1e-5, init=0.01):
    """Train the net `make_net()` returns with the corrected protocol:
    the package's batches and evaluator, `loss` (default: BPR), weights
    drawn from Normal(`init`), Adam at lr 0.01 with weight decay `wd`,
    seed 0. Prints the run's line; returns its final metrics (hit_rate,
    auc, ndcg, loss), or None if a part it needs is not filled in yet."""
    try:
        ncf.seed_everything(0)
        net = make_net()
        parts = ncf.build(corrected, data, devices)
        net.initialize(ctx=devices, init=mx.init.Normal(init),
                       force_reinit=True)
        trainer = gluon.Trainer(net.collect_params(), 'adam',
                                {'learning_rate': 0.01, 'wd': wd})
        tic = time.perf_counter()
        result = ncf.train_ranking(
            net, parts.train_iter, test_iter, loss, trainer,
            None, num_users, num_items, epochs or fit_epochs, devices,
            parts.evaluator, candidates, protocol=parts.protocol)
    except NotImplementedError as err:
        print(f'not trained: {err} (a TODO cell is not filled in yet)')
        return None
    print(f'({time.perf_counter() - tic:.0f} s)')
    return result


def evaluate(net):
    """The corrected evaluator's metrics for a trained `net`."""
    evaluator = ncf.build(corrected, data, devices).evaluator
    return evaluator(net, test_iter, None, candidates, num_users,
                     num_items, devices)


def try_model(net):
    """Initialise `net` and score three (user, item) pairs."""
    net.initialize(init=mx.init.Normal(0.01))
    return net(np.array([0, 1, 2]), np.array([4, 0, 2]))


def book_run(wd=1e-5, epochs=None):
    """The chapter's run: its PRDataset, NeuMF (with the sigmoid), BPR,
    Adam, lr 0.01, `wd`, seed 0, its training loop and (a fast copy of)
    its evaluator. Returns the trained net."""
    ncf.seed_everything(0)
    train_iter = gluon.data.DataLoader(
        ncf.PRDataset(data.users_train, data.items_train, candidates,
                      num_items), batch_size, True, last_batch='rollover')
    net = ncf.NeuMF(10, num_users, num_items, nums_hiddens=[10, 10, 10])
    net.initialize(ctx=devices, force_reinit=True,
                   init=mx.init.Normal(0.01))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01, 'wd': wd})
    book_evaluator = ncf.build(ncf.TrainConfig(), data, devices).evaluator
    ncf.train_ranking(net, train_iter, test_iter, ncf.BPRLoss(), trainer,
                      None, num_users, num_items, epochs or lab_epochs,
                      devices, book_evaluator, candidates)
    return net


print(f'{num_users} users, {num_items} items, '
      f'{len(data.users_train)} training interactions')

# %% [markdown]
# The reference: the package's NeuMF trained with the corrected protocol
# (logits, every unseen item ranked), `fit_epochs` epochs (about 15 s).
# You will compare your models with it.

# %%
neumf_net = ncf.NeuMF(10, num_users, num_items, nums_hiddens=[10, 10, 10],
                      sigmoid_output=False)  # logits out
neumf = fit(lambda: neumf_net)

# %% [markdown]
# ## 1. GMF alone (15 minutes)
#
# NeuMF's first half, as a model of its own: generalised matrix
# factorisation,
#
# $$\hat{y}_{ui} = \mathbf{h}^\top (\mathbf{p}_u \odot \mathbf{q}_i),$$
#
# with no activation on the output (the loss wants logits) and no bias.
# Name the layers as NeuMF does (`P`, `Q`, `prediction_layer`): the check
# reads them.

# %% tags=["todo"]
class GMF(nn.Block):
    """NeuMF's GMF path alone: h^T (p_u * q_i), one score per pair."""
    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super().__init__(**kwargs)
        # TODO: embeddings P (users) and Q (items) of num_factors columns,
        # and prediction_layer: nn.Dense, 1 output, no bias, no activation
        ### BEGIN ANSWER
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.prediction_layer = nn.Dense(1, use_bias=False)
        ### END ANSWER

    def forward(self, user_id, item_id):
        # TODO: the element-wise product of the user's P row and the
        # item's Q row, through prediction_layer: shape (batch, 1)
        ### BEGIN ANSWER
        return self.prediction_layer(self.P(user_id) * self.Q(item_id))
        ### END ANSWER


try_model(GMF(4, 3, 5))  # 3 users, 5 items, 4 factors: three scores


# %%
check_gmf(GMF)

# %% [markdown]
# ## 2. The MLP alone (15 minutes)
#
# NeuMF's second half: its own embeddings $\mathbf{U}, \mathbf{V}$,
# concatenated, through the dense ReLU layers of `nums_hiddens`, then the
# prediction layer (again no activation, no bias):
#
# $$\mathbf{z}^{(1)} = [\mathbf{U}_u, \mathbf{V}_i], \quad
# \mathbf{z}^{(r)} = \mathrm{ReLU}(\mathbf{W}^{(r)} \mathbf{z}^{(r-1)} +
# \mathbf{b}^{(r)}), \quad \hat{y}_{ui} = \mathbf{h}^\top
# \mathbf{z}^{(L)}.$$
#
# Name the layers `U`, `V`, `mlp` (an `nn.Sequential`) and
# `prediction_layer`. MXNet's NumPy interface joins arrays with
# `np.concatenate([a, b], axis=1)`.

# %% tags=["todo"]
class MLP(nn.Block):
    """NeuMF's MLP path alone: h^T mlp([u_u, v_i])."""
    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 **kwargs):
        super().__init__(**kwargs)
        # TODO: embeddings U and V; mlp, an nn.Sequential of
        # nn.Dense(width, activation='relu') for each width in
        # nums_hiddens; prediction_layer (1 output, no bias)
        ### BEGIN ANSWER
        self.U = nn.Embedding(num_users, num_factors)
        self.V = nn.Embedding(num_items, num_factors)
        self.mlp = nn.Sequential()
        for num_hiddens in nums_hiddens:
            self.mlp.add(nn.Dense(num_hiddens, activation='relu'))
        self.prediction_layer = nn.Dense(1, use_bias=False)
        ### END ANSWER

    def forward(self, user_id, item_id):
        # TODO: join the user's U row and the item's V row, through mlp,
        # then prediction_layer: shape (batch, 1)
        ### BEGIN ANSWER
        joined = np.concatenate([self.U(user_id), self.V(item_id)], axis=1)
        return self.prediction_layer(self.mlp(joined))
        ### END ANSWER


try_model(MLP(4, 3, 5, nums_hiddens=[8, 6]))


# %%
check_mlp(MLP)

# %% [markdown]
# ## 3. A loss of your own: the hinge loss (15 minutes)
#
# NeuMF trains with BPR, $-\ln \sigma(\hat{y}_{ui} - \hat{y}_{uj})$ per
# triple $(u, i, j)$ of a user, a positive and a negative. The hinge
# loss asks the positive to beat the negative by a margin $\mu$ and is
# zero once it does:
#
# $$J_{\text{hinge}}(u, i, j) = \max(0,\ \mu - (\hat{y}_{ui} -
# \hat{y}_{uj})).$$
#
# Write it for a batch: `positive` and `negative` are scores of shape
# (batch, 1); return one loss per triple, the same shape
# (`np.maximum` works element-wise).

# %% tags=["todo"]
def hinge(positive, negative, margin=1.0):
    """One hinge loss per (positive, negative) pair of scores."""
    # TODO: max(0, margin - (positive - negative)), element-wise
    ### BEGIN ANSWER
    return np.maximum(0, margin - (positive - negative))
    ### END ANSWER


hinge(np.array([[2.0], [0.5]]), np.array([[0.0], [0.0]]))


# %%
check_hinge(hinge)

# %% [markdown]
# Now train your GMF with your loss, and with BPR (about 10 s each).
# **Predict** first: which ranks better after `fit_epochs` epochs?

# %%
gmf_bpr = fit(lambda: GMF(10, num_users, num_items))

# %%
gmf_hinge = fit(lambda: GMF(10, num_users, num_items), loss=hinge)

# %% [markdown] tags=["answer"]
# **Answer.** Compare the two lines above. Over 10 epochs and 3 seeds of NeuMF
# (`docs/EXERCISES.md`) the hinge loss and BPR rank at the same level (Hit@50
# 0.325 ± 0.012 for hinge against 0.304 ± 0.015): a gap of 0.021, under the
# 0.04 that would count (part 5's answer gives the rule). The hinge loss keeps
# a full gradient on every triple until its margin is met, where BPR's shrinks
# as soon as the positive leads. The loss values are on different scales and
# not comparable: BPR starts at $\ln 2 \approx 0.693$ per triple, the hinge
# loss at the margin, 1.

# %% [markdown]
# **Predict** (no code): the chapter's NeuMF ends in a sigmoid, so every
# score lies in (0, 1). What share of training triples can ever meet a
# margin of 1 there, and what does that do to the gradient?

# %% [markdown] tags=["answer"]
# **Answer.** None: two numbers in (0, 1) differ by less than 1, so
# $\mu - (\hat{y}_{ui} - \hat{y}_{uj}) > 0$ for every triple, and every
# triple keeps a loss and a gradient however well it is ranked, pushing
# the scores towards 0 and 1. The hinge loss needs logits, as BPR does
# (part 6).

# %% [markdown]
# ## 4. NDCG@ℓ by hand (20 minutes)
#
# With one held-out item $g_u$ per user, NDCG@$\ell$ is
# $1 / \log_2(\mathrm{rank}_{u, g_u} + 1)$ if the item's 1-based rank
# in $u$'s list is at most $\ell$, else 0, averaged over the users. The
# list holds every item $u$ did not train on ($\mathcal{I} \setminus
# S_u$; `candidates[u]` are the training items), by descending score.
# First one list, then the whole evaluation.

# %% tags=["todo"]
def ndcg_at(ranked, test_item, k):
    """NDCG@k of one ranked list (best first) with one relevant item."""
    # TODO: 1 / log2(rank + 1) if test_item is at 1-based rank <= k,
    # else 0
    ### BEGIN ANSWER
    top = list(ranked[:k])
    if test_item not in top:
        return 0.0
    return 1 / numpy.log2(top.index(test_item) + 2)
    ### END ANSWER


ndcg_at([7, 3, 9], 3, 2)


# %%
check_ndcg_at(ndcg_at)

# %% tags=["todo"]
def ndcg_by_hand(net, k):
    """Mean NDCG@k over the users in test_iter, ranking each user's
    unseen items by `net`'s scores."""
    # TODO: for each user u in test_iter: the items not in
    # candidates[u], their scores net(users, items), ranked highest
    # first; the mean of ndcg_at(ranked, test_iter[u][0], k). net takes
    # MXNet arrays, np.array(x, ctx=devices[0]), and .asnumpy() brings
    # its scores back to NumPy
    ### BEGIN ANSWER
    values = []
    for u in test_iter:
        items = numpy.array(sorted(set(range(num_items))
                                   - set(candidates[u])))
        users = numpy.full(len(items), u)
        scores = net(np.array(users, ctx=devices[0]),
                     np.array(items, ctx=devices[0])).asnumpy().ravel()
        ranked = items[numpy.argsort(-scores, kind='stable')]
        values.append(ndcg_at(ranked, test_iter[u][0], k))
    return float(numpy.mean(values))
    ### END ANSWER


ndcg_by_hand(neumf_net, k)


# %%
check_ndcg_by_hand(ndcg_by_hand, neumf_net, k, evaluate)

# %% [markdown]
# ## 5. The ablation: what each half buys (20 minutes)
#
# **Predict first.** After `fit_epochs` epochs with the same settings,
# rank these four by Hit@$\ell$, best first, and write your order in the
# next cell: a most-popular list (every user gets the films most users
# rated), your GMF, your MLP, and NeuMF (both halves). How far apart do
# you expect them? Does fusing the two halves beat the better half?

# %% tags=["no-output"]
my_prediction = []  # best first, from 'gmf', 'mlp', 'neumf', 'popularity'

# %% tags=["answer", "no-output"]
# the key's prediction: the NCF paper's, fusion first
my_prediction = ['neumf', 'gmf', 'mlp', 'popularity']


# %% [markdown]
# The popularity baseline needs no training: an item's score is the
# number of its training interactions, whoever asks. Your GMF and the
# reference NeuMF are trained already; now your MLP, trained as your GMF
# was, from the chapter's Normal(0.01) (about 10 s).

# %%
class Popularity(nn.Block):
    """Scores an item by its number of training interactions."""
    def __init__(self, items_train, num_items, **kwargs):
        super().__init__(**kwargs)
        self.counts = np.array(numpy.bincount(
            items_train, minlength=num_items).astype('float32'))

    def forward(self, user_id, item_id):
        return self.counts.as_in_ctx(item_id.ctx)[item_id].reshape(-1, 1)


mlp = fit(lambda: MLP(10, num_users, num_items, [10, 10, 10]))

# %% [markdown]
# Look at the MLP's line. A training loss of 0.693 is $\ln 2$, BPR's
# value when every score ties (notebook, "The BPR loss"), and an AUC of
# 0.500 is chance: if you see them, your MLP has *collapsed*, every pair
# scored alike. Its embeddings reach the score only through three dense
# layers of weights near 0.01, so the data's gradient on them is tiny,
# while the weight decay shrinks every row at every step. Start it from
# ten times larger weights, Normal(0.1), as `d2l-ncf ablation`'s recipe
# for the MLP does, and the data's gradient passes through (about 10 s):

# %%
mlp_big = fit(lambda: MLP(10, num_users, num_items, [10, 10, 10]),
              init=0.1)

# %% [markdown]
# The table, best first, beside your prediction:

# %%
results = {'popularity': evaluate(Popularity(data.items_train, num_items)),
           'gmf': gmf_bpr, 'mlp': mlp, 'mlp, N(0.1)': mlp_big,
           'neumf': neumf}
print(f"{'model':12} {'Hit@%d' % k:>8} {'AUC':>6} {'NDCG@%d' % k:>8}")
done = {name: r for name, r in results.items() if r is not None}
for name, r in sorted(done.items(), key=lambda kv: -kv[1]['hit_rate']):
    print(f"{name:12} {r['hit_rate']:8.3f} {r['auc']:6.3f} {r['ndcg']:8.3f}")
print('your prediction:', ' > '.join(my_prediction) or
      'none written: fill in my_prediction above first')

# %% [markdown] tags=["answer"]
# **Answer.** Read your table first, then `d2l-ncf ablation`'s three
# seeds, every model trained with settings and epochs (15 to 20) tuned
# on a validation item (`docs/RESULTS.md`): popularity Hit@50 0.216,
# MLP 0.300 ± 0.012, GMF 0.343 ± 0.006, NeuMF 0.362 ± 0.002, plain
# matrix factorisation 0.343 ± 0.008.
#
# * The most-popular list is a strong baseline: the same list for
#   every user, yet it ranks the held-out film above 80% of the others
#   (AUC 0.799). Every model that learns beats it.
# * The fusion buys nothing you can measure here. In your table GMF and
#   NeuMF come out level; over three seeds NeuMF leads GMF by 0.019 of
#   Hit@50, but one hit rate over 943 test users is uncertain by about
#   ±0.015 (its binomial standard error), the difference of two by √2
#   times that, about ±0.021, and a gap counts beyond twice that, about
#   0.04. It is a rough rule (two models scored on the same users have a
#   difference whose error depends on how many users they disagree on),
#   so 0.019 is not a finding; on the NCF paper's sampled protocol the
#   two are level too (HR@10 0.639 for GMF, 0.633 for NeuMF). Nearly all
#   of NeuMF's ranking comes from the product of embeddings.
# * The MLP alone is the weakest model that learns, and from the
#   chapter's Normal(0.01) it does not learn at all: it collapses, as
#   the chapter's own NeuMF does in part 6. NeuMF with logits learns
#   from that same start: its GMF half is one layer from the score,
#   where the MLP's embeddings are four.
# * If you predicted NeuMF first, so did the NCF paper's authors, on
#   other data with tuned baselines of their own; Rendle et al. (RecSys
#   2020) found, as here, that a dot product tuned as carefully does as
#   well.

# %% [markdown]
# ## 6. Three of the chapter's defects (15 minutes)
#
# **6a. The chapter's run** (about 20 s). **Predict:** after
# `lab_epochs` epochs of the chapter's own code (its sigmoid, its
# evaluator), what hit rate and AUC will it print, against the book's
# `test hit rate 0.075, test AUC 0.531` after 10? And how many
# *different* scores will the trained model give to 2,000 random pairs?

# %%
book_net = book_run()
rng = numpy.random.RandomState(1)
u = np.array(rng.randint(0, num_users, 2000), ctx=devices[0])
i = np.array(rng.randint(0, num_items, 2000), ctx=devices[0])
scores = book_net(u, i).asnumpy().ravel()
print(len(numpy.unique(scores)), 'distinct score(s):',
      numpy.unique(scores)[:5])

# %% [markdown] tags=["answer"]
# **Answer.** On MovieLens-100K it prints the book's line exactly
# (`train loss 16.982, test hit rate 0.075, test AUC 0.531` on `cpu:2`)
# and the model gives one score, 0.5, to every pair: it has stopped
# learning within its first epoch, so more epochs change nothing. Every
# BPR term is then $-\ln \sigma(0.5 - 0.5) = \ln 2$. With every score
# equal, the chapter's ranking keeps ascending item id, and 0.075 and
# 0.531 are what that order gives on this split. The printed loss is not
# a mean: it adds a running total every batch ($\ln 2 \, (T + 1) / (2G)$
# for $T$ batches in the last epoch and $G$ devices: 16.982 for $T = 97$,
# $G = 2$; the notebook works it out).

# %% [markdown]
# **6b. Weight decay off** (about 20 s). **Predict:** with `wd=0` and
# everything else the chapter's (the sigmoid too), does the model still
# collapse?

# %%
book_wd0 = book_run(wd=0.0)
print('every item ranked:', {m: round(v, 3)
                             for m, v in evaluate(book_wd0).items()})

# %% [markdown] tags=["answer"]
# **Answer.** It no longer collapses: the hit rate and AUC above rise
# well beyond 0.075 / 0.531, with every item ranked as well. MXNet's
# Adam adds the decay to the gradient and then normalises the sum, so
# wherever the decay outweighs the data's gradient a row takes a step of
# about lr towards zero: on every row a batch leaves out (in a batch of
# 1,024 triples, about 46% of the user rows and 36% of the item rows),
# and, with the sigmoid, on the rows it trains as well. The notebook's
# evidence (a) measures it: there the data's gradient is 0.12 of the
# decay's pull at the first batch and falls from there, since the
# sigmoid cuts the data's pull by up to 4 and shrinking weights cut it
# faster than the decay.
# For the chapter's NeuMF at its decay, 1e-5, neither the sigmoid nor
# the decay collapses the model alone; together they do. Elsewhere
# the decay alone can be enough: your MLP of part 5 collapsed from Normal(0.01)
# with logits, and a ten times larger decay, 1e-4, collapses NeuMF with
# logits too (the notebook's exercise 3). The corrected protocol keeps
# the chapter's decay and drops the sigmoid
# (your models in parts 1-2 output logits too).

# %% [markdown]
# **6c. What does the chapter's Hit@50 measure?** (1 s). The chapter's
# evaluator ranks only items with id below `num_users` (erratum 1).
# **Predict:** how many users' test items can it never rank, and so what
# is the best hit rate any model could get under it?

# %%
beyond = sum(1 for (g,) in test_iter.values() if g >= num_users)
print(f'{num_users} of {num_items} items ranked; {beyond} of '
      f'{len(test_iter)} test items never ranked; best possible hit rate '
      f'{1 - beyond / len(test_iter):.3f}')

# %% [markdown] tags=["answer"]
# **Answer.** On MovieLens-100K 113 of the 943 test items have an id of
# 943 or more, so a perfect model scores at most 0.880 under the
# chapter's evaluator; those users count as a miss and AUC 0 whatever
# the model does. "Top 50" also means the top 50 of a list of about 800
# items, not of the 1,600 or so a user has not seen.

# %% [markdown]
# ## 7. Discussion (10 minutes)
#
# * Which of the chapter's defects change what it *reports*, and which
#   change what the model *learns*? Which would a constant scorer,
#   checked first, have revealed?
# * Your ablation table: is NeuMF's fusion worth its second set of
#   embeddings here? What would you need to run to be sure (seeds,
#   epochs, a validation set for the settings)?
# * NDCG@$\ell$ against Hit@$\ell$: when would two models with the same
#   hit rate differ in NDCG?
