"""Write notebooks/neumf.ipynb and notebooks/lab.ipynb from the cells below.

    python notebooks/build_notebook.py            # both, without outputs
    D2L_NCF_DATA_DIR=/path/to/ml-100k \\
        python notebooks/build_notebook.py --execute

``--execute`` runs neumf.ipynb on the real data (about 4 minutes on a
2-core CPU), saves it with its outputs and a first cell stating the
machine, the library versions and the date, and exports docs/neumf.html.
The lab is always saved without outputs: students predict, then run.

The cells tagged ``chapter`` are the section's five definitions (with
its imports), as the chapter prints them with the cut-off lines
completed. They are the notebook's own code, not imported; the tests
prove they behave as the package's ``--reference`` path does
(tests/test_notebook.py) and print the book's line on the real data.
"""
import argparse
import datetime
import os
import platform
import time

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOK = os.path.join(HERE, 'neumf.ipynb')
LAB = os.path.join(HERE, 'lab.ipynb')
HTML = os.path.join(os.path.dirname(HERE), 'docs', 'neumf.html')

# Cell kinds: markdown; code that shows something; code that only
# defines (no output expected); the section's own definitions.
MD, CODE, DEF, CHAPTER = 'md', 'code', 'def', 'chapter'

# ---------------------------------------------------------------- chapter
IMPORTS = """import random
import d2l_ncf  # ours, before MXNet: portable CPU arithmetic (docs/REPRODUCIBILITY.md)
import mxnet as mx
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn
from d2l import mxnet as d2l

npx.set_np()"""

NEUMF = """class NeuMF(nn.Block):
    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 **kwargs):
        super(NeuMF, self).__init__(**kwargs)
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.U = nn.Embedding(num_users, num_factors)
        self.V = nn.Embedding(num_items, num_factors)
        self.mlp = nn.Sequential()
        for num_hiddens in nums_hiddens:
            self.mlp.add(nn.Dense(num_hiddens, activation='relu',
                                  use_bias=True))
        # Erratum 4: a sigmoid before the pairwise loss; with Adam's weight
        # decay the model collapses to a constant 0.5 (evidence (a) below).
        # Corrected: activation=None, the loss sees logits.
        self.prediction_layer = nn.Dense(1, activation='sigmoid', use_bias=False)

    def forward(self, user_id, item_id):
        p_mf = self.P(user_id)
        q_mf = self.Q(item_id)
        gmf = p_mf * q_mf
        p_mlp = self.U(user_id)
        q_mlp = self.V(item_id)
        mlp = self.mlp(np.concatenate([p_mlp, q_mlp], axis=1))
        con_res = np.concatenate([gmf, mlp], axis=1)
        return self.prediction_layer(con_res)"""

PRDATASET = """class PRDataset(gluon.data.Dataset):
    def __init__(self, users, items, candidates, num_items):
        self.users = users
        self.items = items
        self.cand = candidates
        self.all = set([i for i in range(num_items)])

    def __len__(self):
        return len(self.users)

    def __getitem__(self, idx):
        # Erratum 6: a set of every item is rebuilt for each example
        # (right, but slow: about 5 s per epoch on ML-100K).
        neg_items = list(self.all - set(self.cand[int(self.users[idx])]))
        indices = random.randint(0, len(neg_items) - 1)
        return self.users[idx], self.items[idx], neg_items[indices]"""

HIT_AND_AUC = """def hit_and_auc(rankedlist, test_matrix, k):
    hits_k = [(idx, val) for idx, val in enumerate(rankedlist[:k])
              if val in set(test_matrix)]
    hits_all = [(idx, val) for idx, val in enumerate(rankedlist)
                if val in set(test_matrix)]
    max = len(rankedlist) - 1
    # The (n - 1) denominator: the share of the *other* items ranked below
    # the test item; 0 if the test item is not in the list (erratum 1).
    auc = 1.0 * (max - hits_all[0][0]) / max if len(hits_all) > 0 else 0
    return len(hits_k), auc"""

EVALUATE_RANKING = """def evaluate_ranking(net, test_input, seq, candidates, num_users, num_items,
                     devices):
    ranked_list, ranked_items, hit_rate, auc = {}, {}, [], []
    # Erratum 1: range(num_users), not range(num_items): only items with
    # id < num_users are ranked (943 of 1,682 films in ML-100K).
    all_items = set([i for i in range(num_users)])
    for u in range(num_users):
        neg_items = list(all_items - set(candidates[int(u)]))
        user_ids, item_ids, x, scores = [], [], [], []
        [item_ids.append(i) for i in neg_items]
        [user_ids.append(u) for _ in neg_items]
        x.extend([np.array(user_ids)])
        if seq is not None:
            x.append(seq[user_ids, :])
        x.extend([np.array(item_ids)])
        # Erratum 6: a DataLoader per user (about 2 minutes per call).
        test_data_iter = gluon.data.DataLoader(
            gluon.data.ArrayDataset(*x), shuffle=False, last_batch="keep",
            batch_size=1024)
        for index, values in enumerate(test_data_iter):
            x = [gluon.utils.split_and_load(v, devices, even_split=False)
                 for v in values]
            scores.extend([list(net(*t).asnumpy()) for t in zip(*x)])
        scores = [item for sublist in scores for item in sublist]
        item_scores = list(zip(item_ids, scores))
        # sorted() is stable: equal scores keep ascending item id
        ranked_list[u] = sorted(item_scores, key=lambda t: t[1], reverse=True)
        ranked_items[u] = [r[0] for r in ranked_list[u]]
        # Erratum 5: the cut-off 50 is hard-coded.
        temp = hit_and_auc(ranked_items[u], test_input[u], 50)
        hit_rate.append(temp[0])
        auc.append(temp[1])
    return np.mean(np.array(hit_rate)), np.mean(np.array(auc))"""

TRAIN_RANKING = """def train_ranking(net, train_iter, test_iter, loss, trainer, test_seq_iter,
                  num_users, num_items, num_epochs, devices, evaluator,
                  candidates, eval_step=1):
    timer, hit_rate, auc = d2l.Timer(), 0, 0
    animator = d2l.Animator(xlabel='epoch', xlim=[1, num_epochs], ylim=[0, 1],
                            legend=['test hit rate', 'test AUC'])
    for epoch in range(num_epochs):
        metric, l = d2l.Accumulator(3), 0.
        for i, values in enumerate(train_iter):
            input_data = []
            for v in values:
                input_data.append(gluon.utils.split_and_load(v, devices))
            with autograd.record():
                p_pos = [net(*t) for t in zip(*input_data[0:-1])]
                p_neg = [net(*t) for t in zip(*input_data[0:-2],
                                              input_data[-1])]
                ls = [loss(p, n) for p, n in zip(p_pos, p_neg)]
            [l.backward(retain_graph=False) for l in ls]
            # Erratum 3: l is never reset within the epoch, so the running
            # total is added every batch; and it is divided by the number of
            # devices (evidence (d) below).
            l += sum([l.asnumpy() for l in ls]).mean()/len(devices)
            trainer.step(values[0].shape[0])
            metric.add(l, values[0].shape[0], values[0].size)
            # Erratum 2: the timer is never restarted, so timer.sum() adds
            # up times since the start, and examples/sec is far too small.
            timer.stop()
        with autograd.predict_mode():
            if (epoch + 1) % eval_step == 0:
                hit_rate, auc = evaluator(net, test_iter, test_seq_iter,
                                          candidates, num_users, num_items,
                                          devices)
                animator.add(epoch + 1, (hit_rate, auc))
    print(f'train loss {metric[0] / metric[1]:.3f}, '
          f'test hit rate {float(hit_rate):.3f}, test AUC {float(auc):.3f}')
    print(f'{metric[2] * num_epochs / timer.sum():.1f} examples/sec '
          f'on {str(devices)}')"""

# ------------------------------------------------------------- our cells
PARAMETERS = """num_epochs = 10          # the chapter's value
batch_size = 1024        # the chapter's value
devices_spec = 'cpu:2'   # two CPU contexts: the book's two devices ('cpu': one)
data_dir = None          # None: $D2L_NCF_DATA_DIR, else download ml-100k
chapter_evaluator = False  # True: train with the chapter's evaluate_ranking
                           # (about 2 minutes per epoch on a CPU)
probe_batches = (1, 10, 100)  # evidence (a): when to look at the model
exercise_epochs = 10     # per run in the exercises (as in the docs)
k = 50                   # Hit@k and NDCG@k of the corrected runs (the chapter's)"""

SETUP = """import time

import numpy
from IPython.display import display

import d2l_ncf as ncf
from d2l_ncf.evaluation import RankingEvaluator
from d2l_ncf.sampling import NegativeSampler, TripleBatches

devices = ncf.parse_devices(devices_spec)
devices"""

FIGURE = """from d2l_ncf.plotting import neumf_figure

neumf_figure()  # also docs/figures/neumf.svg (notebooks/draw_figures.py)"""

NEUMF_DEMO = """demo = NeuMF(10, 5, 7, nums_hiddens=[10, 10, 10])
demo.initialize(init=mx.init.Normal(0.01))
demo(np.array([0, 1, 4]), np.array([6, 2, 0]))  # a score in (0, 1) per pair"""

DATA = """# The chapter reads, splits (seq-aware) and loads with d2l's functions;
# load_chapter_data gives the same lists and dicts (tests/test_data.py).
data = ncf.load_chapter_data(data_dir)
num_users, num_items = data.num_users, data.num_items
users_train, items_train = data.users_train, data.items_train
candidates, test_iter = data.candidates, data.test_iter
# The chapter passes num_workers=d2l.get_dataloader_workers(); in worker
# processes the negatives are not repeatable, so we load in this process.
train_iter = gluon.data.DataLoader(
    PRDataset(users_train, items_train, candidates, num_items), batch_size,
    True, last_batch="rollover")
print(f'{num_users} users, {num_items} items, {len(users_train)} training '
      f'interactions, {len(test_iter)} test items, {len(train_iter)} batches')
PRDataset(users_train, items_train, candidates, num_items)[0]"""

HIT_DEMO = """# five items ranked, the test item (1) second, cut-off 2:
# one hit, and 3 of the 4 other items ranked below it
hit_and_auc([3, 1, 4, 5, 9], [1], 2)"""

FAST_EVALUATOR = """evaluations = []  # every (hit rate, AUC) returned, for the plots below


def fast_evaluate_ranking(net, test_input, seq, candidates, num_users,
                          num_items, devices):
    \"\"\"evaluate_ranking's numbers (tests/test_notebook.py checks it) from
    the package's vectorised evaluator: about a second instead of two
    minutes. The same ranking, tie-break and defects.\"\"\"
    result = RankingEvaluator('book')(net, test_input, seq, candidates,
                                      num_users, num_items, devices)
    evaluations.append((result['hit_rate'], result['auc']))
    return result['hit_rate'], result['auc']


evaluator = evaluate_ranking if chapter_evaluator else fast_evaluate_ranking"""

BOOK_RUN = """ncf.seed_everything(0)  # ours: the chapter seeds nothing
net = NeuMF(10, num_users, num_items, nums_hiddens=[10, 10, 10])
net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
lr, wd, optimizer = 0.01, 1e-5, 'adam'  # num_epochs: the settings cell
loss = d2l.BPRLoss()
trainer = gluon.Trainer(net.collect_params(), optimizer,
                        {"learning_rate": lr, 'wd': wd})
evaluations.clear()
tic = time.perf_counter()
train_ranking(net, train_iter, test_iter, loss, trainer, None, num_users,
              num_items, num_epochs, devices, evaluator, candidates)
book_net, book_curve = net, list(evaluations)
print(f'({time.perf_counter() - tic:.0f} s)')"""

COLLAPSED = """users = np.array([0, 0, num_users - 1], ctx=devices[0])
items = np.array([0, num_items // 2, num_items - 1], ctx=devices[0])
book_net(users, items).reshape(-1)  # three pairs, one score"""

CORRECTED_RUN = """ncf.seed_everything(0)
sampler = NegativeSampler(candidates, num_users, num_items)
batches = TripleBatches(users_train, items_train, sampler, batch_size,
                        numpy.random.RandomState(0))
net = ncf.NeuMF(10, num_users, num_items, nums_hiddens=[10, 10, 10],
                sigmoid_output=False)  # the chapter's layers, logits out
net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
net.hybridize()
trainer = gluon.Trainer(net.collect_params(), 'adam',
                        {'learning_rate': 0.01, 'wd': 1e-5})
corrected = ncf.train_ranking(
    net, batches, test_iter, d2l.BPRLoss(), trainer, None, num_users,
    num_items, num_epochs, devices, RankingEvaluator('corrected', k=k),
    candidates, protocol='corrected')
corrected_net = net"""

SIDE_BY_SIDE = """epochs = list(range(1, num_epochs + 1))
d2l.plot(epochs, [[h for h, _ in book_curve],
                  [r['hit_rate'] for r in corrected['history']],
                  [a for _, a in book_curve],
                  [r['auc'] for r in corrected['history']]],
         xlabel='epoch', ylabel='test metric', ylim=[0, 1],
         legend=['book: Hit@50 (ids < num_users)', 'corrected: Hit@50',
                 'book: AUC', 'corrected: AUC'],
         fmts=('b-', 'r-', 'b--', 'r--'), figsize=(6, 3.5))"""

EVIDENCE_A = """def probe_collapse(sigmoid_output, wd, steps=probe_batches):
    \"\"\"Train NeuMF with the chapter's settings; at each of `steps`
    batches: median |Q| and the spread of the scores of 2,000 pairs.\"\"\"
    ncf.seed_everything(0)
    rng = numpy.random.RandomState(0)
    batches = TripleBatches(users_train, items_train, NegativeSampler(
        candidates, num_users, num_items), batch_size, rng)
    probe = ncf.NeuMF(10, num_users, num_items, [10, 10, 10],
                      sigmoid_output=sigmoid_output)
    probe.initialize(init=mx.init.Normal(0.01))
    probe.hybridize()
    trainer = gluon.Trainer(probe.collect_params(), 'adam',
                            {'learning_rate': 0.01, 'wd': wd})
    u = np.array(rng.randint(0, num_users, 2000))
    i = np.array(rng.randint(0, num_items, 2000))
    bpr, step, rows = d2l.BPRLoss(), 0, []

    def look():
        q = numpy.abs(probe.Q.weight.data().asnumpy())
        s = probe(u, i).asnumpy()
        rows.append((step, numpy.median(q), s.std(), s.max() - s.min()))

    look()
    while step < max(steps):
        for users, items, negs in batches:
            users, items, negs = np.array(users), np.array(items), np.array(negs)
            with autograd.record():
                l = bpr(probe(users, items), probe(users, negs))
            l.backward()
            trainer.step(len(users))
            step += 1
            if step in steps:
                look()
            if step == max(steps):
                break
    return rows


print(f"{'setting':26} {'batches':>7} {'median |Q|':>10} "
      f"{'score sd':>10} {'max - min':>10}")
for name, sigmoid_output, wd in [('book: sigmoid, wd 1e-5', True, 1e-5),
                                 ('sigmoid, wd = 0', True, 0.0),
                                 ('logits, wd 1e-5', False, 1e-5)]:
    for step, q, sd, spread in probe_collapse(sigmoid_output, wd):
        print(f'{name:26} {step:7d} {q:10.2e} {sd:10.2e} {spread:10.2e}')"""

EVIDENCE_B = """class ConstantScorer(nn.Block):
    \"\"\"Scores every pair 0.5, as the collapsed NeuMF does.\"\"\"
    def forward(self, user_id, item_id):
        return np.full((user_id.shape[0], 1), 0.5, ctx=user_id.ctx)


constant = ConstantScorer()
tic = time.perf_counter()
hit, auc = evaluator(constant, test_iter, None, candidates, num_users,
                     num_items, devices)
print(f"the book's evaluator ({evaluator.__name__}): hit rate "
      f"{float(hit):.3f}, AUC {float(auc):.3f} "
      f"({time.perf_counter() - tic:.0f} s)")
every = RankingEvaluator('corrected', k=k)(
    constant, test_iter, None, candidates, num_users, num_items, devices)
print(f"all {num_items} items ranked, ties by id: Hit@{k} "
      f"{every['hit_rate']:.3f}, AUC {every['auc']:.3f}")
unseen = numpy.array([num_items - len(set(candidates[u])) for u in test_iter])
print(f"all items, ties at random (what a constant deserves): Hit@{k} "
      f"{numpy.mean(numpy.minimum(k, unseen) / unseen):.3f}, AUC 0.500")
beyond = sum(1 for (g,) in test_iter.values() if g >= num_users)
print(f'{beyond} of {len(test_iter)} test items have an id >= {num_users}: '
      f'the chapter never ranks them')"""

EVIDENCE_C = """table = {'book evaluator (ids < num_users)': RankingEvaluator('book'),
         'corrected evaluator (all items)': RankingEvaluator('corrected',
                                                             k=k)}
models = {'book model (sigmoid)': book_net,
          'corrected model (logits)': corrected_net}
print(f"{'Hit@50 / AUC':26}" + ''.join(f'{name:>36}' for name in table))
for model_name, model in models.items():
    cells = []
    for evaluate in table.values():
        r = evaluate(model, test_iter, None, candidates, num_users,
                     num_items, devices)
        cells.append(f"{r['hit_rate']:.3f} / {r['auc']:.3f}")
    print(f'{model_name:26}' + ''.join(f'{c:>36}' for c in cells))"""

EVIDENCE_D = """class RecordingTimer(d2l.Timer):
    \"\"\"d2l's Timer, kept where we can read it after the run.\"\"\"
    last = None

    def __init__(self):
        super().__init__()
        RecordingTimer.last = self


class RecordingAccumulator(d2l.Accumulator):
    \"\"\"d2l's Accumulator, remembering every add; the last one made is
    kept (the chapter makes one per epoch).\"\"\"
    made = []

    def __init__(self, n):
        super().__init__(n)
        self.adds = []
        RecordingAccumulator.made.append(self)

    def add(self, *args):
        self.adds.append(args)
        super().add(*args)


d_epochs = 2
saved = d2l.Timer, d2l.Accumulator
d2l.Timer, d2l.Accumulator = RecordingTimer, RecordingAccumulator
try:  # the chapter's run for two epochs, with the two classes swapped
    ncf.seed_everything(0)
    d_net = NeuMF(10, num_users, num_items, nums_hiddens=[10, 10, 10])
    d_net.initialize(ctx=devices, force_reinit=True,
                     init=mx.init.Normal(0.01))
    d_trainer = gluon.Trainer(d_net.collect_params(), 'adam',
                              {'learning_rate': 0.01, 'wd': 1e-5})
    train_ranking(d_net, train_iter, test_iter, loss, d_trainer, None,
                  num_users, num_items, d_epochs, devices,
                  fast_evaluate_ranking, candidates, eval_step=d_epochs)
finally:
    d2l.Timer, d2l.Accumulator = saved"""

EVIDENCE_D_HAND = """adds = RecordingAccumulator.made[-1].adds  # the last epoch's batches
K, D = len(adds), len(devices)
running = [float(a[0]) for a in adds]  # the l added after each batch
examples = sum(a[1] for a in adds)
step = (running[-1] - running[-2]) * D / batch_size
print(f'the loss per example of the last batch: {step:.4f} '
      f'(ln 2 = {numpy.log(2):.4f})')
print(f'printed loss = sum of the running totals / examples '
      f'= {sum(running):.1f} / {examples} = {sum(running) / examples:.3f}')
print(f'by hand: ln 2 (K + 1) / (2 D) = {numpy.log(2) * (K + 1) / (2 * D):.3f}'
      f' (K = {K} batches in the last epoch, D = {D} devices); one device: '
      f'{numpy.log(2) * (K + 1) / 2:.3f}')
left = 0  # last_batch='rollover' carries examples over: K varies by epoch
for epoch in range(num_epochs):
    K_book, left = divmod(left + len(users_train), batch_size)
print(f'the {num_epochs}-epoch run above ended with K = {K_book}: '
      f'{numpy.log(2) * (K_book + 1) / (2 * D):.3f} on {D} devices, '
      f'{numpy.log(2) * (K_book + 1) / 2:.3f} on one')
times = RecordingTimer.last.times  # each: seconds since the timer began
seen = d_epochs * sum(a[2] for a in adds)
print(f'printed examples/sec = {seen} / sum of {len(times)} cumulative '
      f'times ({sum(times):.0f} s) = {seen / sum(times):.1f}')
print(f'by hand: {seen} examples / {times[-1]:.1f} s since the start = '
      f'{seen / times[-1]:,.0f} examples/sec')
trained = sum(a[1] for made in RecordingAccumulator.made[-d_epochs:]
              for a in made.adds)
print(f'measured: {trained} examples trained / {times[-1]:.1f} s since the '
      f'start = {trained / times[-1]:,.0f} examples/sec (evaluation '
      f'included)')"""

EXERCISE_HELPER = """from d2l_ncf.exercises import plot_rows, run_exercise


def exercise(name, values):
    \"\"\"One exercise, quickly: the corrected protocol, `exercise_epochs`
    epochs, one evaluation at the end, seed 0; a table and a plot.\"\"\"
    base = ncf.TrainConfig(protocol='corrected', num_epochs=exercise_epochs,
                           batch_size=batch_size, devices='cpu',
                           data_dir=data_dir, eval_step=exercise_epochs, k=k)
    tic = time.perf_counter()
    rows = run_exercise(name, values, base, progress=False)
    for r in rows:
        print(f"{r['setting']:>16}: Hit@{k} {r['final_hit_rate']:.3f}, "
              f"AUC {r['final_auc']:.3f}, NDCG@{k} {r['final_ndcg']:.3f}, "
              f"loss {r['final_loss']:.3f}")
    print(f'({time.perf_counter() - tic:.0f} s, one seed: differences '
          f'below about 0.03 of Hit@50 are noise)')
    display(plot_rows(rows, name, k=k))
    return rows  # a dict per setting: every column of exercise.csv"""

EQUATIONS = r"""## The evaluator

The section measures where each user's held-out item lands in a ranked
list, with two formulas:

$$\text{Hit}@\ell = \frac{1}{m} \sum_{u \in \mathcal{U}}
\mathbf{1}(rank_{u, g_u} \leq \ell), \qquad
\text{AUC} = \frac{1}{m} \sum_{u \in \mathcal{U}}
\frac{1}{|\mathcal{I} \setminus S_u|} \sum_{j \in \mathcal{I} \setminus
S_u} \mathbf{1}(rank_{u, g_u} < rank_{u, j}).$$

Every symbol:

* $\mathcal{U}$: the users; $m = |\mathcal{U}|$, here 943.
* $\mathcal{I}$: the items, here 1,682 films.
* $g_u$: user $u$'s held-out ("ground truth") item, the last one they rated.
* $S_u$: the items $u$ interacted with in training; they are not ranked.
* $rank_{u, j}$: the position of item $j$ in $u$'s list of
  $\mathcal{I} \setminus S_u$ sorted by descending score (1 is the top).
* $\ell$: the cut-off; $\mathbf{1}(\cdot)$ is 1 if its argument holds, else 0.

**What the code computes.** For each user $u$ in `range(num_users)`:

1. The list is $L_u = \{0, \dots, m - 1\} \setminus S_u$, the item ids
   *below the number of users*, not $\mathcal{I} \setminus S_u$ (erratum 1);
   it is sorted by descending score, equal scores keeping ascending id.
2. If $g_u \geq m$ it is not in $L_u$: the user counts 0 for both metrics
   (here 113 of the 943 test items).
3. Hit: 1 if $g_u$ is among the first $\ell = 50$ of $L_u$; $\ell$ is
   fixed in the code (erratum 5).
4. AUC: with $n_u = |L_u|$ and $p$ the 0-based position of $g_u$, the code
   returns $(n_u - 1 - p) / (n_u - 1)$: the share of the *other*
   $n_u - 1$ items ranked below $g_u$. The formula divides by
   $|\mathcal{I} \setminus S_u| = n_u$, which counts $g_u$ itself (its own
   indicator is always 0), so its best value is $(n_u - 1)/n_u$, the
   code's is 1.
5. Both are averaged over all $m$ users.

**Where the wording differs from the code.** The section calls $S_u$ "the
candidate items of user $u$", but the sums run over
$\mathcal{I} \setminus S_u$, so the items ranked are the *complement* of
$S_u$; and in the code the argument named `candidates` holds each user's
*training* items, which are removed. Read $S_u$ as "the items $u$ trained
on". The section also speaks of a given cut-off $\ell$ and of the item set
$\mathcal{I}$; the code fixes $\ell = 50$ and ranks only ids below $m$.

The chapter's two functions, completed:"""

ONE_DEVICE = """This is the book's line: `cpu:2` gives the chapter's code two devices,
as the book had two GPUs. On one device it prints `train loss 33.964`:
the chapter divides each batch's loss by the number of devices before
adding its running total, so one device doubles the figure (evidence (d)
works it out), while hit rate and AUC stay 0.075 and 0.531.

The curves are flat: after the first epoch the model no longer learns.
Every score is now the same number, 0.5:"""

EVIDENCE_INTRO = """## Evidence

Four short experiments back the claims above. Each takes a few seconds
on 2 cores."""

EVIDENCE_A_MD = r"""**(a) The collapse, shown.** The chapter's settings for 1, 10 and 100
batches: the median magnitude of the item embeddings $\mathbf{Q}$ and the
spread of the scores of 2,000 random pairs; then the same with `wd=0`,
and with logits (no sigmoid). MXNet's Adam adds the weight decay to the
gradient and then normalises the sum, so an embedding row that is not in
a batch gets a full step of size lr towards zero from the decay alone.
With the sigmoid the data's pull is too weak to hold the rows up: $|Q|$
and the spread fall to zero. Without decay, or with logits, they grow.
(Scores are probabilities with the sigmoid, logits without, so compare
spreads within a setting.)"""

EVIDENCE_B_MD = """**(b) A constant scorer reproduces the book's numbers.** A "model" that
gives every pair 0.5 goes through the chapter's `evaluate_ranking`, then
through an evaluator that ranks every item. The book's 0.075 and 0.531
describe the split and the tie-break by item id, not anything learned.
The cell uses the vectorised copy of the chapter's evaluator; the
chapter's own `evaluate_ranking` gives the same 0.075 and 0.531 for this
scorer in about 3 minutes on 2 cores (set `chapter_evaluator = True`)."""

EVIDENCE_C_MD = """**(c) Which fix matters: the model's or the evaluator's.** The two
trained networks above, each scored by both evaluators (Hit@50 / AUC).
Down a column the model changes; along a row the evaluator does."""

EVIDENCE_D_MD = """**(d) The printed loss and examples/sec, by hand.** The chapter's run
again for two epochs, with d2l's `Timer` and `Accumulator` replaced by
copies that keep what they are given, then the two printed figures
recomputed from the running sums."""

EXERCISE_MD = [
    ("""### 1. The size of the latent factors

Predict first: does NeuMF rank better with 4, 16 or 64 factors?""",
     "factors = exercise('factors', ['4', '16', '64'])",
     """**Answer** (`docs/EXERCISES.md`, 10 epochs, 3 seeds): more factors
help with diminishing returns. Hit@50 is 0.254 ± 0.044 with 4 factors,
0.307 with 8, 0.324 with 16 and 0.343 ± 0.008 with 64; past 16 the gains
are within a standard deviation or two while the training loss keeps
falling, and 64 factors cost five times the time of 8."""),
    ("""### 2. The MLP's layers

Predict: does a deeper or wider MLP tower help?""",
     "hiddens = exercise('hiddens', ['10', '10 10 10', '32 16 8'])",
     """**Answer**: hardly at this size. Every architecture lands within
0.02 of Hit@50 (0.293 to 0.316 over five towers, 3 seeds), about the
spread between seeds; the single 10-unit layer is if anything best. The
GMF path carries most of the signal; the factor size matters more."""),
    ("""### 3. Optimizers, learning rates and weight decay

Predict: what does removing the weight decay do? And plain SGD?""",
     "optim = exercise('optim', ['adam:0.01:1e-5', 'adam:0.01:0', 'adam:0.01:1e-4', "
     "'sgd:0.1:1e-5'])",
     """**Answer**: the choices matter most here. Without weight decay Adam
is best (Hit@50 0.340 ± 0.017); at 1e-4 the model collapses even with
logits (AUC 0.60, the loss stuck at ln 2): the mechanism of evidence (a).
A smaller Adam step (lr 0.001) is worse after 10 epochs (0.159), SGD at
lr 0.1 does not learn at all from Normal(0.01) (Hit@50 0.033, AUC 0.495),
and Adagrad learns more slowly than Adam (0.227)."""),
    ("""### 4. The hinge loss

Predict: BPR or hinge, which ranks better?""",
     "losses = exercise('loss', ['bpr', 'hinge'])",
     """**Answer**: with logits the hinge loss works as well as BPR, slightly
better (Hit@50 0.325 ± 0.012 against 0.304 ± 0.015, 3 seeds; one seed,
as here, can come out either way); the loss values themselves are on
different scales and not comparable. Through the chapter's sigmoid the
hinge loss could never be satisfied: two sigmoids differ by less than 1,
so a margin of 1 is never met and every pair keeps a gradient."""),
]

INTRO = """# Neural Collaborative Filtering for Personalized Ranking

A runnable companion to section 16.6 of *Dive into Deep Learning*
(A. Zhang, Z. C. Lipton, M. Li and A. J. Smola, https://d2l.ai), which
presents NeuMF (X. He et al., "Neural Collaborative Filtering", WWW 2017).
The section's code is in the cells below as the chapter prints it (the
lines its page cuts off completed from d2l 1.0.3); change a line and
rerun. Comments marked *Erratum N* point to `docs/ERRATA.md`. The prose
is ours.

The task: from *implicit* feedback (a user rated a film, or did not) rank,
for every user, the films they have not seen yet, so that the one they
watch next comes near the top. We run the chapter exactly as printed,
then a corrected version beside it, and show why the two differ."""

SETTINGS_MD = """Settings for the whole notebook. The test suite runs this notebook with
small values injected after this cell."""

MODEL_MD = r"""## The NeuMF model

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
\phi^{L}(z^{(L-1)})]\right).$$

The architecture (our drawing, in place of the section's figure):"""

IMPORTS_MD = """The chapter's imports, and ours (`numpy` is NumPy; the chapter's `np` is
MXNet's NumPy interface):"""

IMPL_MD = """## Model implementation

The chapter's class: GMF with embeddings `P`, `Q`, an MLP with its own
`U`, `V`, and a prediction layer over both."""

DATASET_MD = """## A dataset with negative sampling

A pairwise loss compares an item the user interacted with (a positive)
with one they did not (a negative). For each training interaction the
chapter's `PRDataset` draws the negative uniformly from the items the
user has not interacted with in training."""

DATA_MD = """The data: MovieLens-100K, every rating turned into a one (implicit
feedback), split *seq-aware*: each user's latest interaction is held out
for testing, the rest is for training."""

FAST_MD = """`evaluate_ranking` builds a DataLoader per user and takes about two
minutes per call on a CPU. For training we pass an evaluator with the same
numbers from the package's vectorised code (set `chapter_evaluator = True`
above to use the chapter's own); `tests/test_notebook.py` checks that the
two agree."""

TRAIN_MD = """## Training and evaluating the model

The chapter's training function, completed:"""

BOOK_MD = """The chapter's run: its `PRDataset` in a DataLoader, its NeuMF, BPR loss,
Adam at lr 0.01 with weight decay 1e-5, 10 epochs, its training loop
(which draws its curves with d2l's `Animator`)."""

CORRECTED_MD = """## The same run, corrected

Why it collapses is shown in evidence (a) below (`docs/ERRATA.md` has the
full experiments). The corrected protocol keeps every hyper-parameter and
changes what is wrong: the network outputs logits, the evaluator ranks
every unseen item and also reports NDCG, the loss is the mean per example
and the timer counts training only. The batches come from the package's
vectorised sampler, which draws negatives from the same distribution as
`PRDataset`."""

SIDE_MD = """Side by side, epoch by epoch: the book's curves are flat, the
corrected ones rise (the book's Hit@50 counts only items with id below
the number of users)."""

SUMMARY_MD = """## Summary

* NeuMF scores a (user, item) pair with a generalised matrix factorisation
  and an MLP side by side, each with its own embeddings, fused by a last
  dense layer.
* Trained with a pairwise loss on sampled negatives, it ranks the unseen
  items of each user; Hit@ℓ and AUC measure where the held-out item lands.
* As printed, the chapter's run collapses to a constant score, and its
  reported numbers describe the data split (evidence (b)). With logits, a
  full ranking and honest bookkeeping, the same model and settings learn."""

EXERCISES_MD = """## Exercises

Each exercise runs here at a small size (one seed, `exercise_epochs`
epochs, under a minute on 2 cores); the answers quote `docs/EXERCISES.md`,
where each ran with 10 epochs and 3 seeds. The same runs from the shell:
`d2l-ncf exercise factors --values 4 8 16 32 64 --seeds 0 1 2` (and
`hiddens`, `optim`, `loss`), which write a table and a plot."""

PLACEHOLDER = """*Run record.* This copy was written without outputs; the committed
notebook is executed by `python notebooks/build_notebook.py --execute`."""


def notebook_cells():
    """(kind, text) pairs of neumf.ipynb after its first (record) cell."""
    cells = [
        (MD, INTRO), (MD, SETTINGS_MD), (DEF, PARAMETERS),
        (MD, IMPORTS_MD), (CHAPTER, IMPORTS), (CODE, SETUP),
        (MD, MODEL_MD), (CODE, FIGURE),
        (MD, IMPL_MD), (CHAPTER, NEUMF), (CODE, NEUMF_DEMO),
        (MD, DATASET_MD), (CHAPTER, PRDATASET), (MD, DATA_MD), (CODE, DATA),
        (MD, EQUATIONS), (CHAPTER, HIT_AND_AUC), (CODE, HIT_DEMO),
        (CHAPTER, EVALUATE_RANKING), (MD, FAST_MD), (DEF, FAST_EVALUATOR),
        (MD, TRAIN_MD), (CHAPTER, TRAIN_RANKING), (MD, BOOK_MD),
        (CODE, BOOK_RUN), (MD, ONE_DEVICE), (CODE, COLLAPSED),
        (MD, CORRECTED_MD), (CODE, CORRECTED_RUN), (MD, SIDE_MD),
        (CODE, SIDE_BY_SIDE),
        (MD, EVIDENCE_INTRO), (MD, EVIDENCE_A_MD), (CODE, EVIDENCE_A),
        (MD, EVIDENCE_B_MD), (CODE, EVIDENCE_B),
        (MD, EVIDENCE_C_MD), (CODE, EVIDENCE_C),
        (MD, EVIDENCE_D_MD), (CODE, EVIDENCE_D), (CODE, EVIDENCE_D_HAND),
        (MD, SUMMARY_MD), (MD, EXERCISES_MD), (DEF, EXERCISE_HELPER),
    ]
    for question, code, answer in EXERCISE_MD:
        cells += [(MD, question), (CODE, code), (MD, answer)]
    return cells


def make_cell(kind, text):
    """A notebook cell; tags say what the tests expect of it."""
    if kind == MD:
        return new_markdown_cell(text)
    cell = new_code_cell(text)
    tags = {DEF: ['no-output'], CHAPTER: ['chapter', 'no-output'],
            CODE: []}[kind]
    if text is PARAMETERS or text is LAB_PARAMETERS:
        tags = ['parameters'] + tags
    if tags:
        cell.metadata['tags'] = tags
    return cell


def make_notebook(cells, first=PLACEHOLDER):
    nb = new_notebook(
        cells=[new_markdown_cell(first)] + [make_cell(k, t) for k, t in cells],
        metadata={'kernelspec': {'name': 'python3', 'language': 'python',
                                 'display_name': 'Python 3'}})
    for n, cell in enumerate(nb.cells):
        cell.id = f'cell-{n}'  # stable ids: a rebuild changes nothing
    return nb


def build_notebook():
    """neumf.ipynb as the generator writes it (no outputs)."""
    return make_notebook(notebook_cells())


def build_lab():
    """lab.ipynb as the generator writes it (no outputs)."""
    return make_notebook(lab_cells(), LAB_INTRO)

# -------------------------------------------------------------------- lab
LAB_INTRO = """# Lab: NeuMF and the chapter's errata (90 minutes, CPU only)

For students who have read section 16.6 of *Dive into Deep Learning*.
Nothing here needs a GPU: every cell runs on a 2-core laptop CPU in the
time given beside it. Work in pairs. For each question, **write your
prediction down before you run the cell**, then run it and explain any
difference. The answers, with the numbers a run on MovieLens-100K gives,
are in `notebooks/lab_answers.md` (instructors).

Plan: setup and the chapter's code, 10 min; questions 1-2, 15 min;
3-4, 20 min; 5-6, 20 min; 7-8, 15 min; discussion, 10 min."""

LAB_PARAMETERS = """data_dir = None          # None: $D2L_NCF_DATA_DIR, else download ml-100k
devices_spec = 'cpu:2'   # the book's two devices, as two CPU contexts
batch_size = 1024        # the chapter's value
lab_epochs = 3           # per training run in the lab (the chapter: 10)
k = 50                   # Hit@k of the all-items evaluator (the chapter's)"""

LAB_SETUP_MD = """## Setup (10 minutes)

Run the next cells: the chapter's imports and its five definitions (the
same cells as `notebooks/neumf.ipynb`; *Erratum N* comments point to
`docs/ERRATA.md`), then the data (about 10 s)."""

LAB_HELPERS = """def fast_evaluate_ranking(net, test_input, seq, candidates, num_users,
                          num_items, devices):
    \"\"\"The chapter's evaluate_ranking numbers, in about a second.\"\"\"
    result = RankingEvaluator('book')(net, test_input, seq, candidates,
                                      num_users, num_items, devices)
    return result['hit_rate'], result['auc']


def all_items_evaluate(net, test_input, seq, candidates, num_users,
                       num_items, devices):
    \"\"\"Hit@50 and AUC ranking every unseen item (the corrected list).\"\"\"
    result = RankingEvaluator('corrected', k=k)(
        net, test_input, seq, candidates, num_users, num_items, devices)
    return result['hit_rate'], result['auc']


def book_run(model_class=None, wd=1e-5, epochs=None, run_devices=None,
             evaluator=fast_evaluate_ranking, loss=None):
    \"\"\"The chapter's run (its settings unless told), seeded; the net.\"\"\"
    run_devices = run_devices or devices
    ncf.seed_everything(0)
    net = (model_class or NeuMF)(10, num_users, num_items,
                                 nums_hiddens=[10, 10, 10])
    net.initialize(ctx=run_devices, force_reinit=True,
                   init=mx.init.Normal(0.01))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01, 'wd': wd})
    tic = time.perf_counter()
    train_ranking(net, train_iter, test_iter, loss or d2l.BPRLoss(), trainer,
                  None, num_users, num_items, epochs or lab_epochs,
                  run_devices, evaluator, candidates)
    print(f'({time.perf_counter() - tic:.0f} s)')
    return net"""

LAB_QUESTIONS = [
    ("""## 1. The chapter's run (about 15 s on 2 cores)

Predict: after training, what hit rate and AUC will the chapter print?
Better or worse than after its 10 epochs in the book
(`test hit rate 0.075, test AUC 0.531`)?""",
     "net = book_run()"),
    ("""## 2. What has the model learned? (about 1 s)

Predict: how many *different* scores does the trained model give to
2,000 random (user, item) pairs?""",
     """u = np.array(numpy.random.RandomState(1).randint(0, num_users, 2000),
             ctx=devices[0])
i = np.array(numpy.random.RandomState(2).randint(0, num_items, 2000),
             ctx=devices[0])
scores = net(u, i).asnumpy().reshape(-1)
print(len(numpy.unique(scores)), 'distinct scores:', numpy.unique(scores)[:5])"""),
    ("""## 3. Weight decay off (about 15 s)

Predict: with `wd=0` and everything else the chapter's (sigmoid too),
does the model still collapse? What will the two evaluators say?""",
     """net_wd0 = book_run(wd=0.0)
print('all items ranked: Hit@50 %.3f, AUC %.3f' % all_items_evaluate(
    net_wd0, test_iter, None, candidates, num_users, num_items, devices))"""),
    ("""## 4. A hinge margin through a sigmoid (about 15 s)

The previous section's hinge loss asks the positive's score to beat the
negative's by a margin of 1. Predict: after training the chapter's
(sigmoid) model with it, what share of the training pairs meet the
margin? Why?""",
     """net_hinge = book_run(loss=d2l.HingeLossbRec())
users, items, negs = (np.array(a, ctx=devices[0]) for a in
                      next(iter(train_iter)))
gap = (net_hinge(users, items) - net_hinge(users, negs)).asnumpy()
print(f'largest gap {gap.max():.4f}; pairs meeting the margin of 1: '
      f'{(gap >= 1).mean():.3f}')"""),
    ("""## 5. What does Hit@50 measure here? (about 1 s)

The chapter's evaluator ranks only items with id below `num_users`.
Predict: how many users' test items can it never rank? What is the best
hit rate any model could get under it?""",
     """beyond = sum(1 for (g,) in test_iter.values() if g >= num_users)
print(f'{num_users} of {num_items} items ranked; {beyond} of '
      f'{len(test_iter)} test items never ranked; best possible hit rate '
      f'{1 - beyond / len(test_iter):.3f}')
lengths = numpy.array([len(set(range(num_users)) - set(candidates[u]))
                       for u in test_iter])
print(f'each list holds {lengths.min()} to {lengths.max()} items: '
      f'Hit@50 is the top {50 / lengths.mean():.0%} of an average list')"""),
    ("""## 6. Fix the evaluator (about 2.5 minutes: the chapter's evaluator)

Edit the `evaluate_ranking` cell above: `range(num_users)` becomes
`range(num_items)` in the line building `all_items`. Rerun that cell,
then this one. Predict first: how do the hit rate and the AUC of the
collapsed model from question 1 change?""",
     """tic = time.perf_counter()
hit, auc = evaluate_ranking(net, test_iter, None, candidates, num_users,
                            num_items, devices)
print(f'hit rate {float(hit):.3f}, AUC {float(auc):.3f} '
      f'({time.perf_counter() - tic:.0f} s)')"""),
    ("""## 7. Logits instead of a sigmoid (about 10 s)

Predict: the chapter's model with no sigmoid on its prediction layer,
every other setting unchanged: what Hit@50 does it reach, all items
ranked? (The subclass below changes only that layer.)""",
     """class LogitNeuMF(NeuMF):
    \"\"\"The chapter's NeuMF, its prediction layer without the sigmoid.\"\"\"
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prediction_layer = nn.Dense(1, use_bias=False)


net_logits = book_run(LogitNeuMF, evaluator=all_items_evaluate)"""),
    ("""## 8. One device (about 6 s)

Predict: the chapter's run for two epochs on a single device
(`[mx.cpu()]`). What `train loss` will it print, and why does the book
print 16.982?""",
     "book_run(epochs=2, run_devices=[mx.cpu()]);"),
]

LAB_END = """## Discussion (10 minutes)

Which of the chapter's four defects change what it *reports* without
changing what the model *learns*, and which change the model? Which would
you have caught by checking a constant scorer first?"""


def lab_cells():
    """(kind, text) pairs of lab.ipynb after its first cell."""
    cells = [(DEF, LAB_PARAMETERS), (MD, LAB_SETUP_MD),
             (CHAPTER, IMPORTS), (CODE, SETUP),
             (CHAPTER, NEUMF), (CHAPTER, PRDATASET), (CHAPTER, HIT_AND_AUC),
             (CHAPTER, EVALUATE_RANKING), (CHAPTER, TRAIN_RANKING),
             (CODE, DATA), (DEF, LAB_HELPERS)]
    for question, code in LAB_QUESTIONS:
        cells += [(MD, question), (CODE, code)]
    return cells + [(MD, LAB_END)]


# ------------------------------------------------------------- writing
def sources(nb):
    """Every cell's (type, source) but the first (the run record)."""
    return [(c.cell_type, c.source) for c in nb.cells[1:]]


def machine():
    """The CPU model and count, and the OS."""
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            model = next(line.split(':', 1)[1].strip() for line in f
                         if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'{model}, {os.cpu_count()} cores, {platform.platform()}'


def cell_seconds(cell):
    """How long an executed cell ran, from nbclient's timestamps."""
    times = cell.metadata.get('execution', {})
    try:
        start = datetime.datetime.fromisoformat(
            times['iopub.execute_input'].replace('Z', '+00:00'))
        end = datetime.datetime.fromisoformat(
            times['shell.execute_reply'].replace('Z', '+00:00'))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


def run_record(nb, seconds, data_dir):
    """The first cell of an executed notebook: machine, versions, date,
    and the cells that took longest."""
    from d2l_ncf.records import versions
    v = versions()
    slow, heading = [], ''
    for cell in nb.cells:
        if cell.cell_type == 'markdown':  # the cell's topic, in a few words
            heading = cell.source.strip().splitlines()[0].replace(
                '**', '').strip('# ')
            continue
        s = cell_seconds(cell)
        if s is not None and s >= 5:
            first = cell.source.strip().splitlines()[0]
            slow.append(f'  - {s:.0f} s: {heading[:50]} (`{first[:45]}`)')
    return '\n'.join([
        '*Run record.* Executed by `python notebooks/build_notebook.py '
        '--execute` on',
        f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC,',
        f'in {seconds / 60:.1f} minutes on {machine()}.',
        f"Python {v['python']}, mxnet {v['mxnet']}, d2l {v['d2l']}, "
        f"numpy {v['numpy']}, pandas {v['pandas']}. Data: MovieLens-100K "
        f'from `{data_dir}`. No GPU.',
        '',
        'Cells that took 5 s or more:',
        '',
    ] + slow)


def execute(nb, cwd=HERE, timeout=3600):
    """Run `nb` in place with a fresh kernel; return the seconds taken."""
    from nbclient import NotebookClient
    tic = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name='python3',
                   resources={'metadata': {'path': cwd}}).execute()
    return time.perf_counter() - tic


def export_html(nb, path=HTML):
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_notebook_node(nb)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(body)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--execute', action='store_true',
                        help='run neumf.ipynb on the real data, save it '
                             'with outputs, export docs/neumf.html')
    args = parser.parse_args(argv)
    data_dir = os.environ.get('D2L_NCF_DATA_DIR')
    if args.execute and not data_dir:
        parser.error('--execute needs D2L_NCF_DATA_DIR set to the real '
                     'MovieLens-100K folder (the committed notebook is the '
                     'real run)')
    nbformat.write(build_lab(), LAB)
    print(LAB)
    nb = build_notebook()
    if args.execute:
        seconds = execute(nb)
        nb.cells[0].source = run_record(nb, seconds, data_dir)
        nbformat.write(nb, NOTEBOOK)
        print(NOTEBOOK, f'executed in {seconds:.0f} s')
        print(export_html(nb))
        return
    if os.path.exists(NOTEBOOK) and sources(
            nbformat.read(NOTEBOOK, as_version=4)) == sources(nb):
        print(NOTEBOOK, 'unchanged: its outputs are kept')
        return
    nbformat.write(nb, NOTEBOOK)
    print(NOTEBOOK, 'written without outputs: run with --execute to '
          'commit it executed (tests/test_notebook.py checks)')


if __name__ == '__main__':
    main()
