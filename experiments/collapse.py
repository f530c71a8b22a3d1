"""Why the chapter's NeuMF collapses to a constant: one experiment per
suspect, on the real MovieLens-100K.

Each variant changes one thing of the chapter's setup (sigmoid output,
Normal(0.01) init, Adam at lr 0.01, weight decay 1e-5 on every parameter,
BPR) and trains with the chapter's batch size and epochs. We record the
median magnitude of the item embeddings Q during the first epoch, how
many ReLU units of the last MLP layer are dead, the fraction of scores
that are exactly 0.5 (float32) and the corrected ranking metrics (all
unseen items, Hit@50, AUC) per epoch.

    python experiments/collapse.py --out docs/results/collapse.json
"""
import argparse
import json
import os
import sys
import time

import d2l_ncf  # noqa: F401 (first: it sets MXNet's numerics)
import mxnet as mx
import numpy
from mxnet import gluon, np

from d2l_ncf import BPRLoss, NeuMF, load_chapter_data
from d2l_ncf.runs.builders import seed_everything
from d2l_ncf.callbacks import Callback
from d2l_ncf.evaluation import RankingEvaluator
from d2l_ncf.engine.scoring import score_matrix
from d2l_ncf.protocol import CORRECTED
from d2l_ncf.runs.records import versions
from d2l_ncf.runs.run import quietly
from d2l_ncf.corrected import train_ranking
from d2l_ncf.engine.sampling import NegativeSampler, TripleBatches

VARIANTS = {
    # name: (what it tests, settings that differ from the chapter)
    'chapter': ("the chapter's setup", {}),
    'no-wd': ('weight decay off everywhere', {'wd': 0.0}),
    'no-embedding-wd': ('weight decay off on the embeddings only',
                        {'embedding_wd': False}),
    'adam-lr-0.001': ('a 10x smaller Adam step', {'lr': 0.001}),
    'sgd-lr-0.1': ('SGD instead of Adam (coupled decay stays small)',
                   {'optimizer': 'sgd', 'lr': 0.1}),
    'init-0.1': ('a 10x larger initialisation', {'sigma': 0.1}),
    'logits': ('no sigmoid on the output (logits into BPR)',
               {'sigmoid': False}),
    'logits-no-embedding-wd': ('logits, and no decay on embeddings',
                               {'sigmoid': False, 'embedding_wd': False}),
}
PROBE_STEPS = (0, 1, 10, 50)


def run_variant(data, settings, num_epochs, seed, devices):
    s = dict(sigmoid=True, sigma=0.01, optimizer='adam', lr=0.01, wd=1e-5,
             embedding_wd=True)
    s.update(settings)
    seed_everything(seed)
    rng = numpy.random.RandomState(seed)
    sampler = NegativeSampler(data.candidates, data.num_users,
                              data.num_items)
    batches = TripleBatches(data.users_train, data.items_train, sampler,
                            1024, rng)
    net = NeuMF(10, data.num_users, data.num_items, [10, 10, 10],
                sigmoid_output=s['sigmoid'])
    net.initialize(ctx=devices, force_reinit=True,
                   init=mx.init.Normal(s['sigma']))
    if not s['embedding_wd']:
        for emb in (net.P, net.Q, net.U, net.V):
            emb.weight.wd_mult = 0.0
    trainer = gluon.Trainer(net.collect_params(), s['optimizer'],
                            {'learning_rate': s['lr'], 'wd': s['wd']})
    evaluator = RankingEvaluator(CORRECTED, k=50)
    probe = Probe(net, data, devices)
    # the corrected loop: the variants differ from the chapter in one
    # setting each
    quietly(train_ranking, net, batches, data.test_iter, BPRLoss(), trainer,
            None, data.num_users, data.num_items, num_epochs, devices,
            evaluator, data.candidates, callbacks=[probe])
    # dead units: zero for every (user, item) pair of a large sample
    users = np.array(rng.randint(0, data.num_users, 20000), ctx=devices[0])
    items = np.array(rng.randint(0, data.num_items, 20000), ctx=devices[0])
    hidden = net.mlp(np.concatenate([net.U(users), net.V(items)], axis=1))
    dead = int((hidden.asnumpy().max(axis=0) <= 0).sum())
    return {'settings': s, 'q_median_by_step': probe.q_median,
            'dead_last_layer_units': dead, 'history': probe.history}


class Probe(Callback):
    """The median |Q| at steps PROBE_STEPS and after each epoch, and
    each epoch's share of scores that are exactly 0.5."""

    def __init__(self, net, data, devices):
        self.net, self.data, self.devices = net, data, devices
        self.q_median, self.step, self.history = {}, 0, []

    def probe_q(self):
        q = self.net.Q.weight.data(self.devices[0]).asnumpy()
        self.q_median[self.step] = float(numpy.median(numpy.abs(q)))

    def on_train_begin(self, net, trainer, batches_per_epoch,
                       total_batches):
        self.probe_q()

    def on_batch_end(self, epoch, batch):
        self.step += 1
        if self.step in PROBE_STEPS:
            self.probe_q()

    def on_epoch_end(self, epoch, history):
        self.probe_q()
        d = self.data
        scores = score_matrix(self.net, d.num_users, d.num_items,
                              self.devices)
        self.history.append(dict(history[-1], exactly_half=float(
            (scores == 0.5).mean())))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS),
                        choices=list(VARIANTS))
    parser.add_argument('--out', default=None, help='JSON file to write')
    args = parser.parse_args(argv)
    data = load_chapter_data(args.data_dir)
    devices = [mx.cpu()]
    results = {}
    print('| variant | tests | median abs(Q): start, step 1, 10, 50, '
          'epoch 1 | dead units | scores = 0.5 | Hit@50 | AUC |')
    print('|---|---|---|---|---|---|---|')
    for name in args.variants:
        what, settings = VARIANTS[name]
        tic = time.perf_counter()
        r = run_variant(data, settings, args.epochs, args.seed, devices)
        r['what'], r['seconds'] = what, time.perf_counter() - tic
        results[name] = r
        q = r['q_median_by_step']
        qs = ', '.join(f'{q[s]:.1e}' for s in sorted(q)[:5])
        last = r['history'][-1]
        print(f"| {name} | {what} | {qs} | {r['dead_last_layer_units']}/10 "
              f"| {last['exactly_half']:.2f} | {last['hit_rate']:.3f} | "
              f"{last['auc']:.3f} |", flush=True)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)),
                    exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump({'command': ' '.join(sys.argv), 'epochs': args.epochs,
                       'seed': args.seed, 'versions': versions(),
                       'variants': results}, f, indent=2)


if __name__ == '__main__':
    main()
