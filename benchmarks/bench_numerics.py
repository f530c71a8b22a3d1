"""What portable numerics cost: training speed in each mode, side by side.

Each measurement runs in its own process, since the mode must be fixed
before MXNet loads: `portable` (the default), `native` as the environment
leaves it, and `native` with one OpenMP thread per core. Two settings on
the real MovieLens-100K, corrected protocol, one CPU context: the
chapter's (10 factors, MLP 10-10-10, BPR) and the recipe's wide layers
(64 factors, 64-32-16, 16 negatives, log loss). The figure is the
corrected protocol's training examples per second, best of the epochs
after the first (which compiles the graph); modes alternate, twice.

    python benchmarks/bench_numerics.py --out benchmarks/numerics.json
"""
import argparse
import json
import os
import subprocess
import sys

SETTINGS = {
    'chapter': ['--protocol', 'corrected', '--epochs', '3'],
    'recipe': ['--protocol', 'corrected', '--eval', 'sampled', '--loss',
               'log', '--num-neg', '16', '--num-factors', '64', '--hiddens',
               '64', '32', '16', '--lr', '0.002', '--wd', '0', '--epochs',
               '3'],
}


def modes():
    cores = str(os.cpu_count() or 1)
    return {'portable': {'D2L_NCF_NUMERICS': 'portable'},
            'native': {'D2L_NCF_NUMERICS': 'native'},
            f'native, {cores} threads': {'D2L_NCF_NUMERICS': 'native',
                                         'OMP_NUM_THREADS': cores}}


def measure(setting):
    """In this process: the best epoch's examples/s, and the numerics."""
    import contextlib
    import io
    import time
    from d2l_ncf import cli
    from d2l_ncf.corrected import train_ranking  # noqa: F401 (warm import)
    import tempfile
    out = tempfile.mkdtemp()
    argv = ['train', '--devices', 'cpu', '--seed', '0', '--no-progress',
            '--out', out] + SETTINGS[setting]
    with contextlib.redirect_stdout(io.StringIO()):
        tic = time.perf_counter()
        assert cli.main(argv) == 0
        seconds = time.perf_counter() - tic
    with open(os.path.join(out, 'metrics.json')) as f:
        record = json.load(f)
    rates = [row['examples_per_sec'] for row in record['history']
             if 'examples_per_sec' in row]
    return {'examples_per_sec': max(rates[1:] or rates) if rates else
            record['final']['examples_per_sec'],
            'job_seconds': seconds,
            'final_loss': record['final']['loss'],
            'numerics': {k: record['numerics'][k] for k in
                         ('mode', 'isa_in_use', 'omp_threads')}}


def run_one(setting, env):
    environ = dict(os.environ)
    for key in ('D2L_NCF_NUMERICS', 'OMP_NUM_THREADS', 'DNNL_MAX_CPU_ISA'):
        environ.pop(key, None)
    environ.update(env)
    done = subprocess.run([sys.executable, __file__, '--measure', setting],
                          env=environ, capture_output=True, text=True,
                          timeout=1800)
    if done.returncode:
        sys.exit(f'{setting} {env}: failed\n{done.stderr}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=None, help='JSON file to write')
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--measure', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    results = {}
    for setting in SETTINGS:
        for _ in range(args.repeats):
            for name, env in modes().items():
                got = run_one(setting, env)
                row = results.setdefault(setting, {}).setdefault(
                    name, {'examples_per_sec': [], 'numerics':
                           got['numerics'], 'final_loss': got['final_loss']})
                row['examples_per_sec'].append(got['examples_per_sec'])
    print(f'{"setting":10}{"mode":24}{"examples/s (best)":>20}'
          f'{"vs portable":>13}  final loss')
    for setting, rows in results.items():
        base = max(rows['portable']['examples_per_sec'])
        for name, row in rows.items():
            best = max(row['examples_per_sec'])
            row['best'] = best
            print(f'{setting:10}{name:24}{best:20,.0f}{best / base:12.2f}x'
                  f'  {row["final_loss"]!r}')
    from d2l_ncf.runtime import numerics
    from d2l_ncf.runs.records import versions
    record = {'command': 'python benchmarks/bench_numerics.py',
              'results': results, 'versions': versions(),
              'machine': {'cpu': numerics.cpu_info()[0],
                          'cores': os.cpu_count()}}
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=2)
            f.write('\n')


if __name__ == '__main__':
    main()
