"""Data-parallel training on a loopback parameter-server job, measured.

For each number of workers W (and servers S) it runs ``d2l-ncf launch
--workers W --servers S -- train --kvstore dist_sync`` (corrected
protocol, one device per worker, one evaluation at the end, or none
with ``--eval none``) and reads
worker 0's metrics.json: examples/s over the training batches and the
time per step. Beside it, one process trains on the batch one worker
sees (B / W) with no kvstore: its step time is the computation, and the
rest of the distributed step is communication and waiting. The two are
separate runs on a shared machine, so each is run ``--repeats`` times,
interleaved (yardstick, then every job, per round), and the fastest of
each is kept: ``compute_ms`` is the fastest one-process step,
``step_ms`` the fastest distributed one, ``communication_ms`` their
difference clamped at 0 (``step_minus_compute_ms`` keeps it unclamped,
``*_ms_runs`` every round's figure). Bytes are
counted, not sniffed: with ``dist_sync`` each worker pushes every
gradient and pulls the sum (4 bytes a value), plus its loss.

    python benchmarks/bench_dist.py --data-dir $D2L_NCF_DATA_DIR \\
        --workers 1 2 4 --servers 1 2 --repeats 2 --out dist.json

All processes share this machine's cores, so W workers here compete for
the same CPU: the figures show the communication cost per step, not a
speed-up.

With ``--sparse both`` every job (and every one-process yardstick) also
runs with ``--sparse``, dense and sparse in turn. A sparse worker pushes
its embedding gradients as row-sparse arrays (the rows its part of the
batch used) and pulls the summed rows the whole batch used
(``row_sparse_pull``); the MLP's gradients go dense as before. Its bytes
are counted from those rows, replaying the job's seeded batches here:
4 bytes a value plus an 8-byte row key per row, each way (ps-lite's
message headers are not counted, for dense or sparse).

    python benchmarks/bench_dist.py --data-dir $D2L_NCF_DATA_DIR \
        --workers 1 2 4 --servers 1 2 --epochs 1 --repeats 2 \
        --sparse both --out benchmarks/results_dist.json

docs/ARCHITECTURE.md shows the commands of the committed figures.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

import d2l_ncf  # noqa: F401 (first: it sets MXNet's numerics)
import numpy
from mxnet import np as mxnp

from d2l_ncf.runs.config import TrainConfig
from d2l_ncf.runtime.devices import parse_devices
from d2l_ncf.runs.builders import build_iterators, build_net, load_data
from d2l_ncf.runs.records import versions
from d2l_ncf.engine.sparse import EMBEDDINGS

TRAIN = ['--protocol', 'corrected', '--devices', 'cpu', '--no-progress']


def run_job(argv, timeout):
    """Run a d2l-ncf command; its metrics.json's 'final' and config."""
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [sys.executable, '-m', 'd2l_ncf'] + argv + ['--out', out],
            capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f'{argv} failed:\n{done.stderr[-2000:]}')
        with open(os.path.join(out, 'metrics.json')) as f:
            record = json.load(f)
    return record['final']


def timing(final, batch_size):
    steps = final['examples'] / batch_size
    return {'examples_per_sec': final['examples'] / final['train_seconds'],
            'step_ms': 1000 * final['train_seconds'] / steps}


def split(jobs, alone):
    """The fastest distributed step (`jobs`) and the fastest one-process
    step (`alone`, its computation): the rest is communication and
    waiting, clamped at 0 (left unclamped in step_minus_compute_ms)."""
    best = min(jobs, key=lambda t: t['step_ms'])
    compute = min(t['step_ms'] for t in alone)
    return dict(best, compute_ms=compute,
                communication_ms=max(0.0, best['step_ms'] - compute),
                step_minus_compute_ms=best['step_ms'] - compute,
                step_ms_runs=[t['step_ms'] for t in jobs],
                compute_ms_runs=[t['step_ms'] for t in alone])


def parameter_count(config, data):
    """NeuMF's parameters for this data (one forward to shape them)."""
    net = build_net(config, data.num_users, data.num_items,
                    parse_devices('cpu'))
    net(mxnp.array([0]), mxnp.array([0]))
    return sum(p.data().size for p in net.collect_params().values())


def sparse_bytes(config, data, workers, epochs):
    """Mean bytes one worker pushes and pulls per step under --sparse
    (embeddings only), counted from the rows of the job's own batches."""
    batches, _ = build_iterators(config, data)
    width = 4 * config.num_factors + 8  # float32 values and a row key
    pushed, pulled, steps = 0, 0, 0
    for _ in range(epochs):
        for values in batches:
            size = values[0].shape[0] // workers
            for columns in EMBEDDINGS.values():
                ids = [numpy.asarray(values[c]) for c in columns]
                pulled += workers * width * len(numpy.unique(
                    numpy.concatenate([i.reshape(-1) for i in ids])))
                for r in range(workers):
                    part = [i[r * size:(r + 1) * size].reshape(-1)
                            for i in ids]
                    pushed += width * len(numpy.unique(
                        numpy.concatenate(part)))
            steps += workers
    return pushed / steps, pulled / steps


def embedding_count(config, num_users, num_items):
    return 2 * config.num_factors * (num_users + num_items)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data-dir', default=os.environ.get('D2L_NCF_DATA_DIR'))
    p.add_argument('--workers', type=int, nargs='+', default=[1, 2, 4])
    p.add_argument('--servers', type=int, nargs='+', default=[1, 2])
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=1024)
    p.add_argument('--dataset', default='ml-100k',
                   help="train's --dataset (ml-20m: --data-dir holds a "
                        "ratings.csv, e.g. bench_scale.py's)")
    p.add_argument('--eval', default='full',
                   choices=('full', 'sampled', 'none'),
                   help="train's --eval (sampled for large catalogues; "
                        "none: no evaluation, it is not timed anyway)")
    p.add_argument('--k', default=None,
                   help='Hit@k cut-off, for data with few items')
    p.add_argument('--sparse', choices=('no', 'both'), default='no',
                   help="'both': every job dense and with --sparse")
    p.add_argument('--repeats', type=int, default=1,
                   help='rounds of every run; the fastest of each is kept')
    p.add_argument('--timeout', type=int, default=1800)
    p.add_argument('--out', default=None, help='JSON file (else stdout)')
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f'--repeats must be at least 1, not {args.repeats}')
    data = ['--data-dir', args.data_dir] if args.data_dir else []
    data += ['--k', args.k] if args.k else []
    data += ['--dataset', args.dataset]
    data += ['--eval', args.eval] if args.eval != 'none' else []
    # one evaluation at the end; none: evaluation every epochs + 1
    every = args.epochs + (args.eval == 'none')
    common = TRAIN + data + ['--epochs', str(args.epochs), '--eval-step',
                             str(every)]
    config = TrainConfig(data_dir=args.data_dir, protocol='corrected',
                         dataset=args.dataset, batch_size=args.batch_size)
    data_set = load_data(config)  # once: large files take a while
    params = parameter_count(config, data_set)
    dense_params = params - embedding_count(
        config, data_set.num_users, data_set.num_items)
    kinds = [False, True] if args.sparse == 'both' else [False]
    load_before = os.getloadavg()  # others' work on a shared machine
    runs = []
    for workers in args.workers:
        part = args.batch_size // workers
        alone = {k: [] for k in kinds}  # one-process step ms, per round
        jobs = {(s, k): [] for s in args.servers for k in kinds}
        for _ in range(args.repeats):
            for k in kinds:
                alone[k].append(timing(run_job(
                    ['train', '--batch-size', str(part)] + common
                    + (['--sparse'] if k else []), args.timeout), part))
            for servers in args.servers:
                for k in kinds:
                    jobs[servers, k].append(timing(run_job(
                        ['launch', '--workers', str(workers), '--servers',
                         str(servers), '--', 'train', '--kvstore',
                         'dist_sync', '--batch-size', str(args.batch_size)]
                        + common + (['--sparse'] if k else []),
                        args.timeout), args.batch_size))
        rows = (sparse_bytes(config, data_set, workers, args.epochs)
                if True in kinds else None)
        for servers in args.servers:
            for k in kinds:
                run = dict(workers=workers, servers=servers,
                           **split(jobs[servers, k], alone[k]),
                           # push every gradient, pull the sum; and the
                           # loss (1 value for BPR)
                           bytes_per_worker_step=2 * 4 * (params + 1))
                if k:
                    pushed, pulled = rows
                    dense = 4 * (dense_params + 1)  # MLP and the loss
                    run.update(sparse=True,
                               bytes_pushed_per_worker_step=pushed + dense,
                               bytes_pulled_per_worker_step=pulled + dense,
                               bytes_per_worker_step=pushed + pulled
                               + 2 * dense)
                elif args.sparse == 'both':
                    run['sparse'] = False
                runs.append(run)
                print(json.dumps(runs[-1]), file=sys.stderr)
    result = {'command': sys.argv, 'parameters': params,
              'batch_size': args.batch_size, 'epochs': args.epochs,
              'repeats': args.repeats, 'load_average_before': load_before,
              'load_average_after': os.getloadavg(),
              'cpus': os.cpu_count(), 'machine': platform.machine(),
              'versions': versions(), 'runs': runs}
    text = json.dumps(result, indent=2) + '\n'
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == '__main__':
    main()
