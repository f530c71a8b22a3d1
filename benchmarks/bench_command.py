"""`d2l-ncf train --devices cpu:2` as a whole command against one stock
chapter epoch, measured in the same run (issue 15, target 2).

Alternates, N times: the whole command as a subprocess (imports, data,
training, evaluation and writing included), then one stock epoch of
`d2l.train_ranking` in this process (bench_chapter's code). Also times
`d2l-ncf --help` and a usage error, and breaks one command down.

    D2L_NCF_DATA_DIR=/work/shared/data/ml-100k \\
        python benchmarks/bench_command.py --out benchmarks/command.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import mxnet as mx

from bench_chapter import stock
from common import machine
from d2l_ncf import load_chapter_data
from d2l_ncf.runs.builders import load_data
from d2l_ncf.runs.config import TrainConfig
from d2l_ncf.runs.records import versions

BOOK_LINE = 'train loss 16.982, test hit rate 0.075, test AUC 0.531'
COMMAND = ['train', '--devices', 'cpu:2', '--no-progress']
# protocol: (the command, the line it must print, the devices of the
# stock epoch beside it, the target in stock epochs)
JOBS = {
    'book': (COMMAND, BOOK_LINE, 2, 4),
    'corrected': (['train', '--protocol', 'corrected', '--devices', 'cpu',
                   '--no-progress'],
                  'train loss 0.191, test hit rate@50 0.319, test AUC '
                  '0.873, test NDCG@50 0.095', 1, 1.5)}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, extra=(), check=None, timeout=600):
    """Wall seconds of `python [extra] -m d2l_ncf args`, and its output."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    tic = time.perf_counter()
    done = subprocess.run([sys.executable, *extra, '-m', 'd2l_ncf', *args],
                          capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)
    seconds = time.perf_counter() - tic
    if check is not None and done.returncode != check:
        raise SystemExit(f'{args}: exit {done.returncode}\n{done.stderr}')
    return seconds, done


def python_start():
    """Wall seconds of a bare interpreter, as the subprocesses start one."""
    tic = time.perf_counter()
    subprocess.run([sys.executable, '-c', 'pass'], check=True)
    return time.perf_counter() - tic


def imports_seconds(stderr):
    """Top-level cumulative seconds in a `python -X importtime` report."""
    total = 0
    for line in stderr.splitlines():
        if line.startswith('import time:') and '|' in line:
            _, cumulative, name = line[12:].split('|')
            if not name.startswith('  ') and cumulative.strip().isdigit():
                total += int(cumulative)
    return total / 1e6


def breakdown(data_dir):
    """One command with -X importtime and --out: where its seconds go."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'run')
        wall, done = run(COMMAND + ['--out', out], ('-X', 'importtime'), 0)
        with open(os.path.join(out, 'metrics.json')) as f:
            final = json.load(f)['final']
    tic = time.perf_counter()
    load_data(TrainConfig(devices='cpu:2', data_dir=data_dir))
    load = time.perf_counter() - tic
    parts = {'wall_seconds': wall,
             'import_seconds': imports_seconds(done.stderr),
             'data_load_seconds': load,
             'train_seconds': final['train_seconds'],
             'eval_seconds': final['eval_seconds']}
    parts['other_seconds'] = wall - sum(
        v for k, v in parts.items() if k != 'wall_seconds')
    parts['how'] = (
        'one extra run with -X importtime (its overhead included) and --out; '
        'import: top-level cumulative of the importtime report; train and '
        'eval: the seconds the run measures itself (metrics.json); data '
        'load: builders.load_data timed in the bench process (warm cache); '
        'other: the rest (interpreter start, setup, building the net, '
        'writing metrics.json and curves.png)')
    return parts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--out', default=None, help='JSON file to write')
    parser.add_argument('--protocol', choices=sorted(JOBS), default='book')
    args = parser.parse_args(argv)
    command_args, line, num_devices, target = JOBS[args.protocol]
    data_dir = os.environ.get('D2L_NCF_DATA_DIR')
    devices = [mx.cpu(i) for i in range(num_devices)]
    data = load_chapter_data(data_dir)
    commands, epochs = [], []
    for i in range(args.repeats):
        seconds, done = run(command_args, check=0)
        if line not in done.stdout.splitlines():
            raise SystemExit(f'{line!r} is not in:\n{done.stdout}')
        commands.append(seconds)
        epochs.append(stock(data, devices)['epoch_seconds'])
        print(f'{i}: command {commands[-1]:.2f} s, stock epoch '
              f'{epochs[-1]:.2f} s', flush=True)
    helps = [run(['--help'], check=0)[0] for _ in range(args.repeats)]
    usage = [run(['train', '--lr', '-1'], check=2)[0]
             for _ in range(args.repeats)]
    start = statistics.median(python_start() for _ in range(args.repeats))
    command, epoch = statistics.median(commands), statistics.median(epochs)
    results = {
        'command': 'python -m d2l_ncf ' + ' '.join(command_args),
        'command_seconds': commands, 'stock_epoch_seconds': epochs,
        'command_median': command, 'stock_epoch_median': epoch,
        'ratio': command / epoch,
        'ratio_is': f'median whole command / median stock epoch '
                    f'({num_devices} CPU context(s), the chapter '
                    f'DataLoader with its workers)',
        'target': target, 'target_met': command / epoch <= target,
        'help_seconds': statistics.median(helps),
        'usage_error_seconds': statistics.median(usage),
        'python_start_seconds': start,
        'breakdown': (breakdown(data_dir) if args.protocol == 'book'
                      else {}),
        'printed': line}
    for key in ('command_median', 'stock_epoch_median', 'ratio',
                'help_seconds', 'usage_error_seconds',
                'python_start_seconds'):
        print(f'{key:22}{results[key]:8.2f}')
    for key, value in results['breakdown'].items():
        if key != 'how':
            print(f'  {key:20}{value:8.2f}')
    record = {'results': results, 'versions': versions(),
              'machine': machine(), 'load_before': os.getloadavg()}
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=2)


if __name__ == '__main__':
    main()
