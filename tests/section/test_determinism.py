"""A seed fixes every random step: two runs give identical metrics."""
import json

import pytest

from d2l_ncf import cli

SMALL = ['--epochs', '3', '--batch-size', '32', '--num-factors', '4',
         '--hiddens', '4', '4', '--no-progress']
TIMINGS = ('examples_per_sec', 'train_seconds', 'eval_seconds')


def run(synthetic_dir, folder, args):
    assert cli.main(['train', '--data-dir', synthetic_dir, '--out',
                     str(folder)] + SMALL + args) == 0
    record = json.loads((folder / 'metrics.json').read_text())
    final = {k: v for k, v in record['final'].items() if k not in TIMINGS}
    return record['history'], final


@pytest.mark.parametrize('devices', ['cpu', 'cpu:2'])
@pytest.mark.parametrize('protocol', [
    ['--protocol', 'book'],
    ['--protocol', 'corrected', '--k', '10'],
    ['--protocol', 'corrected', '--eval', 'sampled', '--eval-negatives',
     '20', '--loss', 'log', '--num-neg', '2'],
    pytest.param(['--protocol', 'book', '--reference'], id='reference',
                 marks=pytest.mark.slow),  # the chapter's evaluator
], ids=['book', 'corrected', 'sampled', 'reference'])
def test_same_seed_same_numbers(synthetic_dir, tmp_path, devices, protocol,
                                capsys):
    args = ['--devices', devices, '--seed', '11'] + protocol
    first = run(synthetic_dir, tmp_path / 'a', args)
    second = run(synthetic_dir, tmp_path / 'b', args)
    assert first == second
    assert cli.main(['compare', str(tmp_path / 'a'),
                     str(tmp_path / 'b')]) == 0


def test_another_seed_other_numbers(synthetic_dir, tmp_path, capsys):
    args = ['--devices', 'cpu', '--protocol', 'corrected', '--k', '10']
    first = run(synthetic_dir, tmp_path / 'a', args + ['--seed', '1'])
    second = run(synthetic_dir, tmp_path / 'b', args + ['--seed', '2'])
    assert first != second
