"""A plain PyTorch NeuMF, written the way a typical PyTorch user would.

The yardstick of issue 15's target 3 (benchmarks/bench_torch.py runs it
beside ours). The NCF paper's model (He et al., 2017): a GMF branch (user
and item embeddings multiplied element-wise) beside an MLP tower with
embeddings of its own; the two outputs are concatenated and mapped to one
logit. Training is pointwise: each observed (user, item) is labelled 1 and
comes with `num_neg` items the user has not trained on, labelled 0, drawn
anew every epoch; ``BCEWithLogitsLoss`` and Adam. The examples are rows of
a ``Dataset`` read by a ``DataLoader`` (shuffled, ``num_workers=0``).

Our own code; it imports nothing from d2l_ncf (which needs MXNet) so that
it runs under a Python that has only PyTorch and NumPy. The caller hands
it the training interactions (bench_torch.py takes them from d2l_ncf's
loader, so both models train on the same examples).

Run as a worker, it reads a data file (``numpy.savez``: ``users``,
``items``, ``num_users``, ``num_items``, and for scoring ``eval_users``,
``eval_tests``, ``eval_negatives``) and then one JSON command a line on
stdin, answering each with one JSON line on stdout::

    python torch_neumf.py --data train.npz --batch-size 256 --threads 1
    {"cmd": "epoch"}                -> seconds, sample_seconds, loss, ...
    {"cmd": "score", "out": "s.npz"} -> scores of the evaluation lists
"""
import argparse
import json
import sys
import time

import numpy
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class NeuMF(nn.Module):
    """GMF and an MLP tower, each with its own embeddings; one logit."""

    def __init__(self, num_users, num_items, num_factors=8,
                 hiddens=(32, 16, 8)):
        super().__init__()
        self.user_gmf = nn.Embedding(num_users, num_factors)
        self.item_gmf = nn.Embedding(num_items, num_factors)
        self.user_mlp = nn.Embedding(num_users, num_factors)
        self.item_mlp = nn.Embedding(num_items, num_factors)
        layers, width = [], 2 * num_factors
        for hidden in hiddens:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.mlp = nn.Sequential(*layers)
        self.predict = nn.Linear(num_factors + width, 1)
        for embedding in (self.user_gmf, self.item_gmf, self.user_mlp,
                          self.item_mlp):
            nn.init.normal_(embedding.weight, std=0.01)

    def forward(self, users, items):
        gmf = self.user_gmf(users) * self.item_gmf(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users),
                                  self.item_mlp(items)], dim=1))
        return self.predict(torch.cat([gmf, mlp], dim=1)).squeeze(1)


def sample_negatives(users, items, num_items, num_neg, rng):
    """`num_neg` items per (user, item) that the user has not trained on,
    drawn uniformly (a draw the user has seen is drawn again)."""
    seen = numpy.unique(users * num_items + items)
    neg_users = numpy.repeat(users, num_neg)
    negatives = rng.randint(num_items, size=len(neg_users))
    redraw = numpy.isin(neg_users * num_items + negatives, seen)
    while redraw.any():
        negatives[redraw] = rng.randint(num_items, size=int(redraw.sum()))
        redraw[redraw] = numpy.isin(
            neg_users[redraw] * num_items + negatives[redraw], seen)
    return neg_users, negatives


class PointwiseData(Dataset):
    """Rows (user, item, label): the positives, then `num_neg` sampled
    negatives each; `resample` draws new negatives (once per epoch)."""

    def __init__(self, users, items, num_items, num_neg=4, seed=0):
        self.pos_users = numpy.asarray(users, dtype=numpy.int64)
        self.pos_items = numpy.asarray(items, dtype=numpy.int64)
        self.num_items, self.num_neg = num_items, num_neg
        self.rng = numpy.random.RandomState(seed)
        self.resample()

    def resample(self):
        neg_users, negatives = sample_negatives(
            self.pos_users, self.pos_items, self.num_items, self.num_neg,
            self.rng)
        self.users = numpy.concatenate([self.pos_users, neg_users])
        self.items = numpy.concatenate([self.pos_items, negatives])
        self.labels = numpy.concatenate([
            numpy.ones(len(self.pos_users), numpy.float32),
            numpy.zeros(len(neg_users), numpy.float32)])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return self.users[idx], self.items[idx], self.labels[idx]


class Trainer:
    """Model, data, loader, loss and Adam at the given settings."""

    def __init__(self, users, items, num_users, num_items, num_factors=8,
                 hiddens=(32, 16, 8), num_neg=4, batch_size=256, lr=0.001,
                 wd=0.0, seed=0):
        torch.manual_seed(seed)
        self.model = NeuMF(num_users, num_items, num_factors, hiddens)
        self.data = PointwiseData(users, items, num_items, num_neg, seed)
        self.loader = DataLoader(
            self.data, batch_size=batch_size, shuffle=True, num_workers=0,
            generator=torch.Generator().manual_seed(seed))
        self.loss = nn.BCEWithLogitsLoss()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr,
                                          weight_decay=wd)

    def epoch(self):
        """One pass: new negatives, then every row once. Returns timings
        (sampling included in `seconds`) and the mean loss per row."""
        tic = time.perf_counter()
        self.data.resample()
        sampled = time.perf_counter()
        self.model.train()
        total, rows, batches = 0.0, 0, 0
        for users, items, labels in self.loader:
            self.optimizer.zero_grad()
            loss = self.loss(self.model(users, items), labels)
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(labels)
            rows += len(labels)
            batches += 1
        return {'seconds': time.perf_counter() - tic,
                'sample_seconds': sampled - tic, 'loss': total / rows,
                'rows': rows, 'positives': len(self.data.pos_users),
                'batches': batches}

    @torch.no_grad()
    def score(self, users, items):
        """Logits of (user, item) pairs (broadcast together), as NumPy."""
        self.model.eval()
        users = torch.as_tensor(numpy.asarray(users, dtype=numpy.int64))
        items = torch.as_tensor(numpy.asarray(items, dtype=numpy.int64))
        users, items = torch.broadcast_tensors(users, items)
        flat = self.model(users.reshape(-1), items.reshape(-1))
        return flat.reshape(items.shape).numpy()


def info():
    """Versions and the threads this process computes with."""
    return {'torch': torch.__version__, 'numpy': numpy.__version__,
            'python': sys.version.split()[0],
            'threads': torch.get_num_threads(),
            'interop_threads': torch.get_num_interop_threads()}


def serve(trainer, data, stdin=sys.stdin, stdout=sys.stdout):
    """Answer the commands on `stdin`, one JSON line each, until EOF."""
    for line in stdin:
        command = json.loads(line)
        if command['cmd'] == 'epoch':
            reply = trainer.epoch()
        elif command['cmd'] == 'score':
            tic = time.perf_counter()
            users = data['eval_users'][:, None]
            tests = data['eval_tests'][:, None]
            numpy.savez(
                command['out'],
                positive=trainer.score(users, tests)[:, 0],
                negative=trainer.score(users, data['eval_negatives']))
            reply = {'seconds': time.perf_counter() - tic}
        else:
            reply = {'error': f"unknown command {command['cmd']!r}"}
        print(json.dumps(reply), file=stdout, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True, help='a numpy.savez file')
    parser.add_argument('--batch-size', type=int, default=256,
                        help='rows (positives and negatives) per batch')
    parser.add_argument('--num-neg', type=int, default=4)
    parser.add_argument('--num-factors', type=int, default=8)
    parser.add_argument('--hiddens', type=int, nargs='+',
                        default=[32, 16, 8])
    parser.add_argument('--lr', type=float, default=0.001)
    parser.add_argument('--wd', type=float, default=0.0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=0,
                        help="torch.set_num_threads (0: PyTorch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = numpy.load(args.data)
    trainer = Trainer(data['users'], data['items'], int(data['num_users']),
                      int(data['num_items']), args.num_factors,
                      tuple(args.hiddens), args.num_neg, args.batch_size,
                      args.lr, args.wd, args.seed)
    print(json.dumps(info()), flush=True)  # ready
    serve(trainer, data)


if __name__ == '__main__':
    main()
