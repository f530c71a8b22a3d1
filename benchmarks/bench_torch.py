"""Our NeuMF against a plain PyTorch one at the NCF paper's settings.

Issue 15, target 3: at ``--protocol corrected --eval sampled --loss log
--num-neg 4 --batch-size 256 --num-factors 8 --hiddens 32 16 8 --lr 0.001
--wd 0`` our epoch should take at most a third of a PyTorch NeuMF's. One
invocation trains both on the same examples (real MovieLens-100K, split
by d2l_ncf's loader), epochs alternating: one of ours (bench_train's
paper setting, one CPU context, no evaluation in the timing), then one of
each PyTorch variant, each in its own long-lived worker process
(benchmarks/torch_neumf.py under `--torch-python`). The variants: batches
of 256 rows (positives and negatives, as the paper's and most PyTorch
code's batches are) and of 1280 rows (256 positives with their 4
negatives each, as ours: the same optimizer steps per epoch), each at
PyTorch's default threads and at ``torch.set_num_threads(1)``.

The first epoch of each is reported apart (warm-up); the others give
the fastest and the median epoch. Examples/s counts training positives
(each comes with its 4 negatives in both). After the last epoch both are
evaluated (untimed) on the same sampled lists (the held-out item among 99
unseen items, HR@10 and NDCG@10) to show both models learn.

PyTorch is not a dependency of d2l_ncf: install it in its own
virtualenv and name its Python (which needs only torch and numpy)::

    python benchmarks/bench_torch.py --torch-python /path/to/venv/bin/python \\
        --epochs 3 --out benchmarks/torch.json
"""
import os

# The user's environment, before d2l_ncf fixes the threads of this
# process: the PyTorch workers start with it, so they run at PyTorch's
# own default threads.
USER_ENVIRON = dict(os.environ)

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import d2l_ncf  # noqa: E402,F401 (first: it sets MXNet's numerics)
import numpy  # noqa: E402

# Every name this benchmark takes from d2l_ncf, in one place.
from d2l_ncf import load_chapter_data  # noqa: E402
from d2l_ncf.metrics import sampled_metrics  # noqa: E402
from d2l_ncf.runs.records import versions  # noqa: E402
from d2l_ncf.engine.sampling import sample_eval_negatives  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train import SETTINGS, machine, run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PAPER = SETTINGS['paper']
EVAL_NEGATIVES, K = 99, 10


class TorchUnavailable(RuntimeError):
    """The given Python cannot import torch."""


def check_torch(python):
    """Refuse a Python that cannot import torch, saying why."""
    try:
        done = subprocess.run([python, '-c', 'import torch, numpy'],
                              capture_output=True, text=True, timeout=300,
                              env=USER_ENVIRON)
    except OSError as err:
        raise TorchUnavailable(f'cannot run {python}: {err}') from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ['(no message)'])[-1]
        raise TorchUnavailable(f'{python} cannot import torch and numpy: '
                               f'{last}')


class TorchWorker:
    """One PyTorch NeuMF in its own process, trained an epoch at a time."""

    def __init__(self, python, data_file, batch_rows, threads, seed=0):
        self.name = f'torch, {batch_rows}-row batches, ' + (
            'default threads' if not threads else
            f'{threads} thread{"s" if threads > 1 else ""}')
        self.batch_rows, self.requested_threads = batch_rows, threads
        self.process = subprocess.Popen(
            [python, os.path.join(HERE, 'torch_neumf.py'),
             '--data', data_file, '--batch-size', str(batch_rows),
             '--num-neg', str(PAPER['num_neg']),
             '--num-factors', str(PAPER['num_factors']),
             '--hiddens', *map(str, PAPER['nums_hiddens']),
             '--lr', str(PAPER['lr']), '--wd', str(PAPER['wd']),
             '--seed', str(seed), '--threads', str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=USER_ENVIRON)
        self.info = self._reply()
        self.epochs = []

    def _reply(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f'{self.name}: the worker stopped (exit '
                               f'code {self.process.wait()}); its error '
                               f'is above')
        return json.loads(line)

    def ask(self, **command):
        self.process.stdin.write(json.dumps(command) + '\n')
        self.process.stdin.flush()
        return self._reply()

    def epoch(self):
        self.epochs.append(self.ask(cmd='epoch'))

    def evaluate(self, folder):
        """HR@K and NDCG@K on the evaluation lists of the data file."""
        out = os.path.join(folder, f'scores-{id(self)}.npz')
        self.ask(cmd='score', out=out)
        scores = numpy.load(out)
        hit, ndcg, _ = sampled_metrics(scores['positive'], scores['negative'],
                                    K)
        return {'hit_rate': float(hit.mean()), 'ndcg': float(ndcg.mean())}

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def write_data(data, path, seed=0):
    """The training interactions and the sampled evaluation lists (the
    ones our evaluator draws with the same seed) for the workers."""
    users = [u for u in range(data.num_users) if u in data.test_iter]
    negatives = sample_eval_negatives(
        data.candidates, data.test_iter, data.num_items, users,
        numpy.random.RandomState(seed), EVAL_NEGATIVES)
    numpy.savez(path, users=numpy.asarray(data.users_train, numpy.int64),
                items=numpy.asarray(data.items_train, numpy.int64),
                num_users=data.num_users, num_items=data.num_items,
                eval_users=numpy.asarray(users, numpy.int64),
                eval_tests=numpy.array([data.test_iter[u][0] for u in users],
                                       numpy.int64),
                eval_negatives=negatives)


def summary(seconds, positives):
    """Warm-up epoch apart; fastest and median of the others."""
    seconds = numpy.asarray(seconds, dtype=float)
    timed = seconds[1:]
    return {'epoch_seconds': float(timed.min()),
            'median_epoch_seconds': float(numpy.median(timed)),
            'first_epoch_seconds': float(seconds[0]),
            'all_epoch_seconds': seconds.tolist(),
            'examples_per_sec': positives / float(timed.min()),
            'median_examples_per_sec': positives / float(numpy.median(timed))}


def torch_record(worker, metrics):
    epochs = worker.epochs
    return dict(summary([e['seconds'] for e in epochs],
                        epochs[0]['positives']),
                batch_rows=worker.batch_rows,
                requested_threads=worker.requested_threads or 'default',
                threads=worker.info['threads'],
                interop_threads=worker.info['interop_threads'],
                batches_per_epoch=epochs[0]['batches'],
                rows_per_epoch=epochs[0]['rows'],
                sample_seconds=[e['sample_seconds'] for e in epochs],
                loss_per_row=[e['loss'] for e in epochs], **metrics)


def compare(args, data, folder):
    """Alternate epochs of ours and of every PyTorch variant."""
    data_file = os.path.join(folder, 'train.npz')
    write_data(data, data_file)
    workers = [TorchWorker(args.torch_python, data_file, rows, threads)
               for rows in args.torch_batch_rows
               for threads in args.torch_threads]
    try:
        seconds, result = run(
            'paper', data, args.data_dir, args.epochs,
            between=lambda: [w.epoch() for w in workers], evaluate=True)
        positives = result['examples'] / args.epochs
        ours = dict(summary(seconds, positives), loss=result['loss'],
                    batches_per_epoch=int(positives // PAPER['batch_size']),
                    omp_threads=os.environ.get('OMP_NUM_THREADS'),
                    hit_rate=result['hit_rate'], ndcg=result['ndcg'])
        torch_runs = [dict(torch_record(w, w.evaluate(folder)), name=w.name)
                      for w in workers]
    finally:
        for worker in workers:
            worker.close()
    return ours, torch_runs, workers[0].info


def ratios(ours, torch_runs):
    """Our epoch seconds over each PyTorch variant's (fastest; median)."""
    for run_ in torch_runs:
        run_['ratio_ours_over_torch'] = (ours['epoch_seconds']
                                         / run_['epoch_seconds'])
        run_['median_ratio_ours_over_torch'] = (
            ours['median_epoch_seconds'] / run_['median_epoch_seconds'])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--epochs', type=int, default=3,
                        help='of each model; the first is warm-up')
    parser.add_argument('--torch-python', default=os.environ.get(
        'D2L_NCF_TORCH_PYTHON', sys.executable),
        help='a Python that imports torch and numpy')
    parser.add_argument('--torch-batch-rows', type=int, nargs='+',
                        default=[256, 1280])
    parser.add_argument('--torch-threads', type=int, nargs='+',
                        default=[0, 1], help="0: PyTorch's default")
    parser.add_argument('--out', default=None, help='JSON file to write')
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error('--epochs must be at least 2 (the first is warm-up)')
    try:
        check_torch(args.torch_python)
    except TorchUnavailable as err:
        print(f'bench_torch: {err}. PyTorch is not a d2l_ncf dependency: '
              f'install it in a virtualenv of its own (python3 -m venv '
              f'VENV; VENV/bin/pip install torch numpy) and pass '
              f'--torch-python VENV/bin/python', file=sys.stderr)
        return 2
    data = load_chapter_data(args.data_dir)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        ours, torch_runs, torch_info = compare(args, data, folder)
    ratios(ours, torch_runs)
    print(f'{"ours":40} {ours["epoch_seconds"]:7.3f} s/epoch (median '
          f'{ours["median_epoch_seconds"]:.3f}), HR@{K} '
          f'{ours["hit_rate"]:.3f}')
    for r in torch_runs:
        print(f'{r["name"]:40} {r["epoch_seconds"]:7.3f} s/epoch (median '
              f'{r["median_epoch_seconds"]:.3f}), HR@{K} '
              f'{r["hit_rate"]:.3f}; ours/torch '
              f'{r["ratio_ours_over_torch"]:.3f}')
    record = {
        'settings': {f: list(v) if isinstance(v, tuple) else v
                     for f, v in PAPER.items()},
        'epochs': args.epochs, 'ours': ours, 'torch': torch_runs,
        'versions': dict(versions(), torch=torch_info['torch'],
                         torch_numpy=torch_info['numpy'],
                         torch_python=torch_info['python']),
        'machine': machine(),
        'load_average': {'start': load, 'end': os.getloadavg()}}
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=2)
            f.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
