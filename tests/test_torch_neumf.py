"""The PyTorch yardstick of benchmarks/bench_torch.py (issue 15, target 3).

PyTorch is not a d2l_ncf dependency and CI does not install it: the tests
that run the PyTorch model skip without it. The missing-torch message is
checked everywhere.
"""
import importlib.util
import io
import json
import os
import sys

import numpy
import pytest

from synthetic import make_ratings, write_udata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(REPO, 'benchmarks')
NO_TORCH = ('PyTorch is not installed (it is not a d2l_ncf dependency, and '
            'CI does not install it); benchmarks/torch_neumf.py needs it')
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec('torch') is None, reason=NO_TORCH)


@pytest.fixture
def bench_torch():
    sys.path.insert(0, BENCHMARKS)
    import bench_torch
    return bench_torch


@pytest.fixture
def torch_neumf():
    sys.path.insert(0, BENCHMARKS)
    import torch_neumf
    return torch_neumf


@pytest.fixture
def wide_dir(tmp_path):
    """Enough items for 99 sampled negatives and enough positives for a
    few batches of the paper's 256."""
    return write_udata(tmp_path / 'wide', make_ratings(
        num_users=120, num_items=120, per_user=8))


def test_bench_torch_says_when_torch_is_missing(bench_torch, tmp_path,
                                                capsys):
    python = tmp_path / 'python'
    python.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module "
                      "named 'torch'\" >&2\nexit 1\n")
    python.chmod(0o755)
    assert bench_torch.main(['--torch-python', str(python)]) == 2
    err = capsys.readouterr().err
    assert "cannot import torch and numpy: ModuleNotFoundError" in err
    assert '--torch-python' in err
    assert bench_torch.main(['--torch-python',
                             str(tmp_path / 'nowhere')]) == 2
    assert 'cannot run' in capsys.readouterr().err


@needs_torch
def test_torch_neumf_trains_and_scores(torch_neumf, synthetic_dir):
    from d2l_ncf import load_dataset
    data = load_dataset(data_dir=synthetic_dir)
    users = numpy.asarray(data.users_train)
    items = numpy.asarray(data.items_train)
    neg_users, negatives = torch_neumf.sample_negatives(
        users, items, data.num_items, 4, numpy.random.RandomState(0))
    assert numpy.array_equal(neg_users, numpy.repeat(users, 4))
    seen = set(zip(users.tolist(), items.tolist()))
    assert not seen & set(zip(neg_users.tolist(), negatives.tolist()))
    trainer = torch_neumf.Trainer(users, items, data.num_users,
                                  data.num_items, batch_size=32, lr=0.01)
    epochs = [trainer.epoch() for _ in range(15)]
    assert epochs[0]['rows'] == 5 * len(users)
    assert epochs[0]['batches'] == -(-5 * len(users) // 32)
    assert epochs[-1]['loss'] < 0.8 * epochs[0]['loss']
    scores = trainer.score(users[:3, None], numpy.arange(data.num_items))
    assert scores.shape == (3, data.num_items)
    # the serving loop answers one JSON line a command
    out = io.StringIO()
    torch_neumf.serve(trainer, {}, io.StringIO('{"cmd": "epoch"}\n'), out)
    assert json.loads(out.getvalue())['positives'] == len(users)


@needs_torch
def test_bench_torch_compares_on_the_same_examples(bench_torch, wide_dir,
                                                   tmp_path):
    out = tmp_path / 'torch.json'
    assert bench_torch.main([
        '--data-dir', wide_dir, '--epochs', '2', '--torch-python',
        sys.executable, '--torch-batch-rows', '1280', '--torch-threads',
        '1', '--out', str(out)]) == 0
    result = json.loads(out.read_text())
    (run,) = result['torch']
    positives = 120 * 7  # one interaction a user held out for test
    assert run['rows_per_epoch'] == 5 * positives
    assert run['threads'] == 1 and len(run['all_epoch_seconds']) == 2
    assert run['examples_per_sec'] == pytest.approx(
        positives / run['epoch_seconds'])
    trained = positives // 256 * 256  # ours: whole batches, rollover
    assert result['ours']['examples_per_sec'] == pytest.approx(
        trained / result['ours']['epoch_seconds'])
    assert run['ratio_ours_over_torch'] == pytest.approx(
        result['ours']['epoch_seconds'] / run['epoch_seconds'])
    for side in (result['ours'], run):
        assert 0 <= side['hit_rate'] <= 1
