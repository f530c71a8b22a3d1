"""The default `d2l-ncf ablation` (six models, two evaluations, three
seeds, MovieLens-100K) timed as one whole command, against issue 25's
budget of 15 minutes on 2 cores.

Runs the command as a subprocess (imports, data, every training and
evaluation, the report included) and samples the machine's load average
while it runs: on a shared machine the wall time says as much about the
neighbours as about the job. `--keep DIR` keeps the job's outputs (the
table docs/RESULTS.md quotes).

    D2L_NCF_DATA_DIR=/work/shared/data/ml-100k python \\
        benchmarks/bench_ablation.py --out benchmarks/ablation.json \\
        --keep docs/results/ablation
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from common import machine
from d2l_ncf.runs.records import versions

BUDGET_SECONDS = 15 * 60  # issue 25
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class LoadSampler(threading.Thread):
    """The 1-minute load average every `every` seconds until stopped."""

    def __init__(self, every=15.0):
        super().__init__(daemon=True)
        self.every, self.samples = every, []
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(self.every):
            self.samples.append(round(os.getloadavg()[0], 2))


def run_job(out, extra):
    """Wall seconds of ``d2l-ncf ablation --out OUT`` plus `extra`."""
    argv = [sys.executable, '-m', 'd2l_ncf', 'ablation', '--out', out,
            '--no-progress'] + list(extra)
    env = dict(os.environ, PYTHONPATH=ROOT)
    tic = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env,
                          cwd=ROOT)
    seconds = time.perf_counter() - tic
    if done.returncode:
        raise SystemExit(f'exit {done.returncode}:\n{done.stderr}')
    return seconds, argv[2:]


def per_model(rows):
    """Training and evaluation seconds per model, summed over seeds."""
    seconds = {}
    for row in rows:
        entry = seconds.setdefault(row['model'], {'train': 0.0, 'eval': 0.0})
        if row['eval'] == 'full':  # a model trains once per seed
            entry['train'] += row['train_seconds']
        entry['eval'] += row['eval_seconds']
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=None, help='JSON file to write')
    parser.add_argument('--keep', default=None, metavar='DIR',
                        help="copy the job's outputs to DIR")
    parser.add_argument('extra', nargs='*',
                        help='more ablation options (after --)')
    args = parser.parse_args(argv)
    before = os.getloadavg()
    sampler = LoadSampler()
    sampler.start()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'ablation')
        seconds, command = run_job(out, args.extra)
        sampler.done.set()
        after = os.getloadavg()
        with open(os.path.join(out, 'ablation.json')) as f:
            record = json.load(f)
        with open(os.path.join(out, 'ablation.md')) as f:
            table = f.read()
        if args.keep:
            shutil.copytree(out, args.keep, dirs_exist_ok=True)
    result = {
        'command': 'd2l-ncf ' + ' '.join(command[2:]),
        'wall_seconds': round(seconds, 1),
        'budget_seconds': BUDGET_SECONDS,
        'within_budget': seconds <= BUDGET_SECONDS,
        'job_seconds': round(record['wall_seconds'], 1),
        'seconds_per_model': per_model(record['rows']),
        'load_average': {'before': [round(x, 2) for x in before],
                         'after': [round(x, 2) for x in after],
                         'during_1min': sampler.samples},
        'machine': machine(), 'versions': versions(),
        'numerics': record['numerics'], 'devices': record['devices'],
        'table': table}
    print(f'{seconds:.0f} s (budget {BUDGET_SECONDS} s); load average '
          f'{before[0]:.2f} before, {after[0]:.2f} after')
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
            f.write('\n')


if __name__ == '__main__':
    main()
