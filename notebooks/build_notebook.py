"""Write notebooks/neumf.ipynb from the cells below (no outputs).

Edit the cells here and rerun: python notebooks/build_notebook.py
"""
import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

MD, CODE = 'md', 'code'
CELLS = [
    (MD, r"""# Neural Collaborative Filtering for Personalized Ranking

A runnable companion to section 16.6 of *Dive into Deep Learning*
(A. Zhang, Z. C. Lipton, M. Li and A. J. Smola, https://d2l.ai), which
presents NeuMF (X. He et al., "Neural Collaborative Filtering", WWW 2017).
The code is the chapter's, imported from the `d2l_ncf` package rather
than pasted here; the prose is ours.

The task: from *implicit* feedback (a user rated a film, or did not) rank,
for every user, the films they have not seen yet, so that the one they
watch next comes near the top. We first run the chapter exactly as
printed, then a corrected version beside it, and look at why the two
differ."""),
    (MD, """Settings for the whole notebook. The test suite runs this
notebook with small values injected after this cell."""),
    (CODE, """num_epochs = 10        # the chapter's value
batch_size = 1024      # the chapter's value
devices_spec = 'all'   # 'all' (GPUs, else CPU), 'cpu', 'cpu:2', 'gpu:0,1'
data_dir = None        # None: $D2L_NCF_DATA_DIR, else download ml-100k
exercise_epochs = 5    # per run in the exercise at the end
exercise_values = ['4', '16', '64']  # latent factor sizes to compare"""),
    (CODE, """import inspect

import mxnet as mx
import numpy
from mxnet import gluon, np
from d2l import mxnet as d2l

import d2l_ncf as ncf
from d2l_ncf.ranking import RankingEvaluator
from d2l_ncf.sampling import NegativeSampler, TripleBatches

devices = ncf.parse_devices(devices_spec)
ncf.seed_everything(0)
devices"""),
    (MD, r"""## The NeuMF model

NeuMF puts two ways of combining a user and an item side by side, each
with its own embeddings.

**Generalised matrix factorisation (GMF).** With user factors
$\mathbf{p}_u$ (row $u$ of $\mathbf{P} \in \mathbb{R}^{m \times k}$) and
item factors $\mathbf{q}_i$ (row $i$ of $\mathbf{Q} \in \mathbb{R}^{n
\times k}$), GMF keeps their element-wise product instead of summing it
into a dot product, and lets a learned output layer weigh each factor:

$$\mathbf{x} = \mathbf{p}_u \odot \mathbf{q}_i, \qquad
\hat{y}_{ui} = \alpha(\mathbf{h}^\top \mathbf{x}).$$

**A multilayer perceptron (MLP).** A second pair of embeddings
$\mathbf{U}_u, \mathbf{V}_i$ is concatenated and passed through $L$ dense
layers, which can model interactions a product cannot:

$$\begin{aligned}
z^{(1)} &= [\mathbf{U}_u, \mathbf{V}_i], \\
\phi^{(\ell)}(z^{(\ell-1)}) &= \alpha^{\ell}(\mathbf{W}^{(\ell)}
z^{(\ell-1)} + b^{(\ell)}), \quad \ell = 2, \dots, L.
\end{aligned}$$

**Fusion.** NeuMF concatenates the GMF vector and the MLP's last layer
and maps them to one score through a sigmoid:

$$\hat{y}_{ui} = \sigma\left(\mathbf{h}^\top [\mathbf{x},
\phi^{L}(z^{(L-1)})]\right).$$"""),
    (MD, """## Model implementation

The chapter's class, as the package ships it (a `HybridBlock` with the
chapter's layers; `sigmoid_output=False` is our corrected variant):"""),
    (CODE, """print(inspect.getsource(ncf.NeuMF))"""),
    (CODE, """net = ncf.NeuMF(10, 5, 7, nums_hiddens=[10, 10, 10])
net.initialize(init=mx.init.Normal(0.01))
scores = net(np.array([0, 1, 4]), np.array([6, 2, 0]))
scores.shape, scores  # one score in (0, 1) per (user, item) pair"""),
    (MD, """## A dataset with negative sampling

A pairwise loss compares an item the user interacted with (a positive)
with one they did not (a negative). For each training interaction the
chapter's `PRDataset` draws the negative uniformly from the items the
user has not interacted with in training.

The data: MovieLens-100K, every rating turned into a one (implicit
feedback), split *seq-aware*: each user's latest interaction is held out
for testing, the rest is for training."""),
    (CODE, """data = ncf.load_chapter_data(data_dir)
print(f'{data.num_users} users, {data.num_items} items, '
      f'{len(data.users_train)} training interactions, '
      f'{len(data.test_iter)} test items')
dataset = ncf.PRDataset(data.users_train, data.items_train,
                        data.candidates, data.num_items)
dataset[0]  # (user, positive item, negative item)"""),
    (MD, r"""## The evaluator

Each user's held-out item $g_u$ is ranked among the items the user did
not train on. The hit rate at cut-off $\ell$ counts the users whose
held-out item lands in the top $\ell$:

$$\text{Hit}@\ell = \frac{1}{m} \sum_{u \in \mathcal{U}}
\mathbf{1}(rank_{u, g_u} \leq \ell),$$

and the AUC is the fraction of the other candidates ranked below it:

$$\text{AUC} = \frac{1}{m} \sum_{u \in \mathcal{U}}
\frac{1}{|\mathcal{I} \setminus S_u|} \sum_{j \in \mathcal{I} \setminus
S_u} \mathbf{1}(rank_{u, g_u} < rank_{u, j}).$$

The chapter's `hit_and_auc` on a list of five items, test item at
position 1 (0-based), cut-off 2: one hit, and AUC (4 - 1) / 4."""),
    (CODE, """ncf.hit_and_auc([3, 1, 4, 5, 9], [1], 2)"""),
    (MD, """## Training and evaluating the model

First the chapter's run: its `PRDataset`, its NeuMF, BPR loss, Adam at
lr 0.01 with weight decay 1e-5, and its training loop, which draws its
curves with d2l's `Animator`. We evaluate with `d2l_ncf`'s vectorised
evaluator in book mode: it returns exactly the chapter's numbers
(including its defects) in well under a second, where the chapter's
`evaluate_ranking` takes over a minute per epoch on a CPU."""),
    (CODE, """ncf.seed_everything(0)
train_iter = gluon.data.DataLoader(
    ncf.PRDataset(data.users_train, data.items_train, data.candidates,
                  data.num_items), batch_size, True, last_batch='rollover')
net = ncf.NeuMF(10, data.num_users, data.num_items, nums_hiddens=[10, 10, 10])
net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
trainer = gluon.Trainer(net.collect_params(), 'adam',
                        {'learning_rate': 0.01, 'wd': 1e-5})
book = ncf.train_ranking(net, train_iter, data.test_iter, ncf.BPRLoss(),
                         trainer, None, data.num_users, data.num_items,
                         num_epochs, devices, RankingEvaluator('book'),
                         data.candidates)"""),
    (MD, """The curves are flat: the model stopped learning after its first
epoch. Every score is now the same number:"""),
    (CODE, """scores = net(np.array([0, 0, 5]), np.array([0, 100, 1000]))
scores.reshape(-1)"""),
    (MD, """## The same run, corrected

Why it collapses (`docs/ERRATA.md` has the experiments): MXNet's Adam adds
the weight decay to the gradient and then normalises the sum. An
embedding row that is not in the batch (most items, most of the time)
receives only the decay term, and Adam turns that tiny gradient into a
full step of size lr toward zero: with lr 0.01 and weights of about 0.01,
the embeddings vanish within an epoch. The sigmoid on the output makes
the data's pull four times weaker, so decay wins. Once the embeddings are
gone every score is sigmoid(0) = 0.5, and the ranking falls back on item
ids; the evaluator also only ranks items whose id is below the number of
users, and the printed loss adds a running total every batch.

The corrected protocol keeps every hyper-parameter and changes what is
wrong: the network outputs logits, the evaluator ranks every unseen item
and also reports NDCG, and the loss is the mean per example. We use the
vectorised sampler, which draws negatives from the same distribution."""),
    (CODE, """ncf.seed_everything(0)
sampler = NegativeSampler(data.candidates, data.num_users, data.num_items)
train_iter = TripleBatches(data.users_train, data.items_train, sampler,
                           batch_size, numpy.random.RandomState(0))
net = ncf.NeuMF(10, data.num_users, data.num_items, nums_hiddens=[10, 10, 10],
                sigmoid_output=False)
net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
net.hybridize()
trainer = gluon.Trainer(net.collect_params(), 'adam',
                        {'learning_rate': 0.01, 'wd': 1e-5})
corrected = ncf.train_ranking(
    net, train_iter, data.test_iter, ncf.BPRLoss(), trainer, None,
    data.num_users, data.num_items, num_epochs, devices,
    RankingEvaluator('corrected', k=50), data.candidates,
    protocol='corrected')"""),
    (MD, """Side by side, epoch by epoch (hit rate at 50; the book's counts only
items with id below the number of users):"""),
    (CODE, """d2l.plot(list(range(1, num_epochs + 1)),
         [[r['hit_rate'] for r in book['history']],
          [r['hit_rate'] for r in corrected['history']]],
         xlabel='epoch', ylabel='test hit rate@50',
         legend=['book protocol', 'corrected protocol'], ylim=[0, 1])"""),
    (MD, """## Summary

* NeuMF scores a (user, item) pair with a generalised matrix factorisation
  and an MLP side by side, each with its own embeddings, fused by a last
  dense layer.
* Trained with a pairwise loss on sampled negatives, it ranks the unseen
  items of each user; Hit@ℓ and AUC measure where the held-out item lands.
* As printed, the chapter's run collapses to a constant score, and its
  reported numbers describe the data split. With logits, a full ranking
  and honest bookkeeping, the same model and settings learn."""),
    (MD, """## Exercises

Each exercise is also a command that writes a table and a plot (see
`docs/EXERCISES.md` for our answers on the full data):

1. Vary the size of the latent factors:
   `d2l-ncf exercise factors --values 4 8 16 32 64 --seeds 0 1 2`
2. Vary the MLP's layers: `d2l-ncf exercise hiddens --values "10" "10 10"
   "32 16 8"`
3. Other optimizers, learning rates and weight decay:
   `d2l-ncf exercise optim --values adam:0.01:1e-5 adam:0.001:0
   sgd:0.1:0`
4. The hinge loss: `d2l-ncf exercise loss --values bpr hinge`

The first, run here with a few epochs per setting:"""),
    (CODE, """from d2l_ncf.exercises import run_exercise

base = ncf.TrainConfig(protocol='corrected', num_epochs=exercise_epochs,
                   batch_size=batch_size, devices=devices_spec,
                   data_dir=data_dir, eval_step=exercise_epochs)
rows = run_exercise('factors', exercise_values, base, progress=False)
d2l.plot(list(range(len(rows))),
         [[r['final_hit_rate'] for r in rows], [r['final_auc'] for r in rows]],
         xlabel='setting index (' + ', '.join(exercise_values) + ' factors)',
         legend=['hit rate@50', 'AUC'], ylim=[0, 1])
rows"""),
]


def build():
    cells = []
    for kind, text in CELLS:
        cell = (new_markdown_cell(text) if kind == MD
                else new_code_cell(text))
        if kind == CODE and text.startswith('num_epochs ='):
            cell.metadata['tags'] = ['parameters']
        cells.append(cell)
    nb = new_notebook(cells=cells, metadata={
        'kernelspec': {'name': 'python3', 'display_name': 'Python 3',
                       'language': 'python'}})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        'neumf.ipynb')
    nbformat.write(nb, path)
    return path


if __name__ == '__main__':
    print(build())
