"""Regenerate the reference outputs in this folder.

Each JSON file is a d2l-ncf metrics.json plus a "reference" block: the
command that produced it, the printed result lines, the hardware, and
when. Regenerate only on purpose (a change that is meant to move the
numbers), and say why in the commit:

    D2L_NCF_DATA_DIR=/path/to/ml-100k python tests/reference/regenerate.py

`d2l-ncf compare RUN tests/reference/NAME.json` checks a run against one.
"""
import contextlib
import datetime
import io
import json
import os
import platform
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from synthetic import make_ratings, write_udata  # noqa: E402

from d2l_ncf import cli  # noqa: E402

SYNTHETIC = ['--epochs', '5', '--batch-size', '32', '--num-factors', '4',
             '--hiddens', '4', '4']
# name: (arguments after `d2l-ncf train`, uses the real data?)
REFERENCES = {
    'book_ml100k_cpu2': (['--devices', 'cpu:2'], True),
    'book_ml100k_cpu': (['--devices', 'cpu'], True),
    'corrected_ml100k_seed0': (
        ['--protocol', 'corrected', '--devices', 'cpu', '--seed', '0'],
        True),
    'synthetic_book_seed0': (['--devices', 'cpu', '--seed', '0']
                             + SYNTHETIC, False),
    'synthetic_corrected_seed0': (['--protocol', 'corrected', '--devices',
                                   'cpu', '--seed', '0', '--k', '10']
                                  + SYNTHETIC, False),
}


def hardware():
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return {'cpu': model, 'cores': os.cpu_count(),
            'platform': platform.platform()}


def produce(args, real, folder):
    """Run `d2l-ncf train` with `args`; return metrics and printed lines."""
    if real and not os.environ.get('D2L_NCF_DATA_DIR'):
        sys.exit('set D2L_NCF_DATA_DIR to the MovieLens-100K folder')
    data_dir = (os.environ['D2L_NCF_DATA_DIR'] if real else
                write_udata(os.path.join(folder, 'synthetic'),
                            make_ratings()))
    out = os.path.join(folder, 'run')
    printed = io.StringIO()
    argv = ['train', '--no-progress', '--data-dir', data_dir, '--out',
            out, '--overwrite'] + args
    with contextlib.redirect_stdout(printed):
        assert cli.main(argv) == 0
    with open(os.path.join(out, 'metrics.json')) as f:
        record = json.load(f)
    return record, printed.getvalue().strip().splitlines()[-2:]


def main(names=None):
    for name in names or REFERENCES:
        args, real = REFERENCES[name]
        with tempfile.TemporaryDirectory() as folder:
            record, lines = produce(args, real, folder)
        record['config'].pop('command', None)
        record['config'].pop('resolved_data_dir', None)
        record['config'].pop('data_dir', None)
        record['reference'] = {
            'command': 'd2l-ncf train ' + ' '.join(args),
            'data': 'MovieLens-100K (u.data)' if real else
                    'tests/synthetic.py make_ratings() defaults',
            'printed': lines, 'hardware': hardware(),
            'produced': datetime.date.today().isoformat(),
            'how': 'tests/reference/regenerate.py'}
        with open(os.path.join(HERE, name + '.json'), 'w') as f:
            json.dump(record, f, indent=2)
            f.write('\n')
        print(name, lines[0])


if __name__ == '__main__':
    main(sys.argv[1:])
