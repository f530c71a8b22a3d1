"""--sparse: row-sparse embedding gradients and lazy optimizer updates."""
import json

import mxnet as mx
import numpy
import pytest
from mxnet import autograd, np

from d2l_ncf import cli

from d2l_ncf.engine import optimizers, sparse
from d2l_ncf.runs.config import TrainConfig
from d2l_ncf.model import NeuMF
from d2l_ncf.runs.builders import build_net
from test_distributed import (SMALL as DIST_SMALL, dist_train,  # noqa: F401
                              history as dist_history, run_launch, tag)

SMALL = ['--batch-size', '32', '--num-factors', '4', '--hiddens', '4', '4',
         '--no-progress', '--protocol', 'corrected', '--k', '10', '--sparse']


def run(args):
    return cli.main(['train'] + SMALL + args)


def record(out):
    return json.loads((out / 'metrics.json').read_text())


def one_step(config, users, items, negatives):
    """A NeuMF built as `config` says, and its embeddings before and after
    one BPR step on the given batch (one CPU context)."""
    mx.random.seed(0)
    net = build_net(config, 10, 12, [mx.cpu()])
    params = {'learning_rate': 0.05, 'wd': 0.1}
    trainer = (sparse.make_trainer(net, config.optimizer, params, 'device')
               if config.sparse else mx.gluon.Trainer(
                   net.collect_params(), config.optimizer, params))
    names = ('P', 'Q', 'U', 'V')
    before = {n: getattr(net, n).weight.data().asnumpy() for n in names}
    u, i, j = (np.array(x) for x in (users, items, negatives))
    with autograd.record():
        loss = -np.log(mx.npx.sigmoid(net(u, i) - net(u, j))).sum()
    loss.backward()
    trainer.step(len(users))
    after = {n: getattr(net, n).weight.data().asnumpy() for n in names}
    return net, before, after


def moved_rows(before, after):
    return sorted(numpy.nonzero((before != after).any(axis=1))[0].tolist())


@pytest.mark.parametrize('optimizer', optimizers.LAZY_OPTIMIZERS)
def test_a_step_moves_only_the_rows_of_its_batch(optimizer):
    config = TrainConfig(protocol='corrected', sparse=True, num_factors=3,
                         nums_hiddens=(4,), optimizer=optimizer)
    net, before, after = one_step(config, [1, 4, 4], [2, 3, 2], [7, 0, 9])
    assert net.P.weight.grad().stype == 'row_sparse'
    # wd > 0: a dense update would decay every row of every table
    for name in ('P', 'U'):
        assert moved_rows(before[name], after[name]) == [1, 4]
    for name in ('Q', 'V'):
        assert moved_rows(before[name], after[name]) == [0, 2, 3, 7, 9]


def test_the_dense_update_moves_every_row():
    config = TrainConfig(protocol='corrected', num_factors=3,
                         nums_hiddens=(4,))
    _, before, after = one_step(config, [1, 4, 4], [2, 3, 2], [7, 0, 9])
    assert moved_rows(before['P'], after['P']) == list(range(10))
    assert moved_rows(before['Q'], after['Q']) == list(range(12))


def test_sparse_net_starts_from_the_dense_nets_weights_and_names():
    dense = TrainConfig(protocol='corrected')
    mx.random.seed(4)
    a = build_net(dense, 10, 12, [mx.cpu()])
    mx.random.seed(4)
    b = build_net(TrainConfig(protocol='corrected', sparse=True), 10, 12,
                  [mx.cpu()])
    for net in (a, b):  # the dense layers' shapes are known after a call
        mx.random.seed(5)
        net(np.array([0]), np.array([0]))
    pa, pb = a.collect_params(), b.collect_params()
    assert [p.split('_', 1)[1] for p in pa] == [
        p.split('_', 1)[1] for p in pb]
    for x, y in zip(pa.values(), pb.values()):
        assert (x.data().asnumpy() == y.data().asnumpy()).all()
    assert isinstance(b.P.weight, sparse.RowSparseGradParameter)
    assert not isinstance(a.P.weight, sparse.RowSparseGradParameter)


def test_sparse_parameters_load_into_a_dense_neumf(tmp_path):
    mx.random.seed(1)
    net = build_net(TrainConfig(protocol='corrected', sparse=True), 10, 12,
                    [mx.cpu()])
    u, i = np.array([0, 3]), np.array([5, 11])
    net(u, i)
    net.save_parameters(str(tmp_path / 'p.params'))
    dense = NeuMF(10, 10, 12, [10, 10, 10], sigmoid_output=False)
    dense.load_parameters(str(tmp_path / 'p.params'))
    assert (dense(u, i).asnumpy() == net(u, i).asnumpy()).all()


def test_sparse_training_learns(synthetic_dir, tmp_path):
    out = tmp_path / 'out'
    assert run(['--data-dir', synthetic_dir, '--epochs', '8', '--lr', '0.05',
                '--k', '3', '--out', str(out)]) == 0
    hits = [r['hit_rate'] for r in record(out)['history']]
    # chance is about 3 of ~35 unseen items (0.09)
    assert hits[-1] >= 0.6 and hits[-1] > hits[0], hits
    assert record(out)['config']['sparse'] is True


@pytest.mark.parametrize('extra', [[], ['--devices', 'cpu:2'],
                                   ['--loss', 'log', '--num-neg', '3',
                                    '--optimizer', 'sgd', '--lr', '0.5']])
def test_resume_continues_bit_for_bit(synthetic_dir, tmp_path, extra):
    data = ['--data-dir', synthetic_dir] + extra
    whole, part, ck = (tmp_path / n for n in ('whole', 'part', 'ck'))
    assert run(data + ['--epochs', '4', '--out', str(whole),
                       '--save', str(tmp_path / 'ck_whole')]) == 0
    assert run(data + ['--epochs', '2', '--save', str(ck)]) == 0
    assert cli.main(['train', '--data-dir', synthetic_dir, '--epochs', '4',
                     '--resume', str(ck), '--save', str(ck), '--out',
                     str(part), '--no-progress']) == 0
    assert record(part)['history'] == record(whole)['history']
    for a, b in (('ck_whole', 'ck'),):  # parameters and Adam's moments
        assert files(tmp_path / a, 'model.params') == files(
            tmp_path / b, 'model.params')
        assert files(tmp_path / a, 'trainer.states') == files(
            tmp_path / b, 'trainer.states')


def files(ck, name):
    folder = json.loads((ck / 'manifest.json').read_text())['folder']
    return (ck / folder / name).read_bytes()


@pytest.mark.parametrize('argv, message', [
    (['--sparse'], '--sparse updates only the embedding rows each batch '
                   'uses; the book protocol'),
    (['--sparse', '--protocol', 'corrected', '--optimizer', 'rmsprop'],
     "adam, sgd, nag; MXNet's rmsprop is not"),
])
def test_refusals(usage_error, argv, message):
    usage_error(['train'] + argv, message)


def test_dist_async_is_refused(usage_error, monkeypatch):
    monkeypatch.setenv('DMLC_ROLE', 'worker')
    usage_error(['train', '--kvstore', 'dist_async', '--sparse',
                 '--protocol', 'corrected'], '--sparse trains under '
                                             'dist_sync only')


@pytest.mark.parametrize('array', [numpy.array, np.array])
def test_global_rows_are_the_distinct_ids_of_the_whole_batch(array):
    # NumPy's arrays from our sampler, MXNet's from the chapter's loader
    batches = sparse.GlobalRows([(array([3, 1, 3]), array([5, 6, 7]),
                                  array([[7, 2], [9, 5], [0, 0]]))])
    for _ in batches:
        assert batches.rows((0,)).tolist() == [1, 3]
        assert batches.rows((1, 2)).tolist() == [0, 2, 5, 6, 7, 9]


# -- a loopback job: 2 workers, each training its half of every batch -----

@pytest.mark.slow
@pytest.mark.parametrize('per_worker, servers, local_devices', [
    ('cpu', '2', 'cpu:2'), ('cpu:2', '1', 'cpu:4')])
def test_dist_sync_sparse_two_workers_match_one_process(
        synthetic_dir, tmp_path, tag, per_worker, servers, local_devices):
    local, dist = tmp_path / 'local', tmp_path / 'dist'
    assert cli.main(['train', '--data-dir', synthetic_dir, '--devices',
                     local_devices, '--epochs', '2', '--out', str(local),
                     '--sparse'] + DIST_SMALL) == 0
    argv = dist_train(synthetic_dir, '--epochs', '2', '--out', str(dist),
                      '--sparse')
    argv[argv.index('--servers') + 1] = servers  # 2: tables split in two
    argv[argv.index('--devices') + 1] = per_worker
    code, out, err = run_launch(tag, argv)
    assert code == 0, err
    want, got = dist_history(local), dist_history(dist)
    assert [r['epoch'] for r in got] == [1, 2]
    # Not bit for bit: the workers' losses are summed in float32 on the
    # servers, and the weights drift in the last bits as the dense path's
    # do (its dist_sync weights differ from cpu:2's by up to 1e-4; these
    # by about 1e-6). The metrics agree exactly here.
    for a, b in zip(got, want):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-5), key


@pytest.mark.slow
def test_dist_sync_sparse_resumes_bit_for_bit(synthetic_dir, tmp_path, tag):
    whole, part, ck = (tmp_path / n for n in ('whole', 'part', 'ck'))
    code, _, err = run_launch(tag, dist_train(
        synthetic_dir, '--epochs', '3', '--out', str(whole), '--sparse'))
    assert code == 0, err
    code, _, err = run_launch(tag, dist_train(
        synthetic_dir, '--epochs', '2', '--save', str(ck), '--sparse'))
    assert code == 0, err
    code, _, err = run_launch(tag, dist_train(
        synthetic_dir, '--epochs', '3', '--resume', str(ck), '--save',
        str(ck), '--out', str(part)))
    assert code == 0, err
    assert dist_history(part) == dist_history(whole)


@pytest.mark.slow
def test_bench_dist_counts_sparse_bytes(synthetic_dir, tmp_path, tag,
                                        monkeypatch):
    import os
    import sys
    from test_distributed import REPO, TAG_ENV
    sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
    import bench_dist
    monkeypatch.setenv(TAG_ENV, tag)  # its jobs inherit the tag
    monkeypatch.setenv('PYTHONPATH', REPO)
    out = tmp_path / 'dist.json'
    bench_dist.main(['--data-dir', synthetic_dir, '--workers', '2',
                     '--servers', '1', '--epochs', '1', '--batch-size',
                     '32', '--k', '5', '--sparse', 'both', '--out', str(out)])
    dense, rows = json.loads(out.read_text())['runs']
    assert (dense['sparse'], rows['sparse']) == (False, True)
    assert dense['bytes_per_worker_step'] == 2 * 4 * (1730 + 1)
    mlp = 4 * (1730 - 2 * 10 * (24 + 40) + 1)  # and the loss
    # a worker's 16 examples use at most 16 users and 32 items of each
    # table; the batch of 32 at most 24 users and 40 items: 48 B a row
    assert mlp < rows['bytes_pushed_per_worker_step'] <= mlp + 2 * 48 * (
        16 + 32)
    assert rows['bytes_pushed_per_worker_step'] < rows[
        'bytes_pulled_per_worker_step'] <= mlp + 2 * 48 * (24 + 40)
    assert rows['bytes_per_worker_step'] == pytest.approx(
        rows['bytes_pushed_per_worker_step']
        + rows['bytes_pulled_per_worker_step'])
    assert rows['examples_per_sec'] > 0


def test_recommend_from_a_sparse_checkpoint(synthetic_dir, tmp_path):
    from d2l_ncf.runs.recommending import recommend
    with open(f'{synthetic_dir}/u.item', 'w', encoding='latin-1') as f:
        for i in range(1, 41):
            f.write(f'{i}|Movie {i}|01-Jan-1995||http://x|0|1\n')
    ck = tmp_path / 'ck'
    assert run(['--data-dir', synthetic_dir, '--epochs', '1', '--save',
                str(ck)]) == 0
    top = recommend(str(ck), 1, k=5)
    assert len(top) == 5 and all(r['title'].startswith('Movie')
                                 for r in top)


def test_a_sparse_run_prints_no_lazy_update_notice(synthetic_dir, tmp_path):
    # found by the new-user pass: MXNet's C++ log warned on the first
    # lazy update that lazy updates differ from dense ones, which is what
    # --sparse asks for; the notice alone is silenced (it goes to the
    # process's stderr, below Python, hence a subprocess)
    import os
    import subprocess
    import sys
    done = subprocess.run(
        [sys.executable, '-m', 'd2l_ncf', 'train', '--data-dir',
         synthetic_dir, '--epochs', '1', '--devices', 'cpu'] + SMALL,
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__))))))
    assert done.returncode == 0, done.stderr
    assert 'lazy_update' not in done.stderr
    assert 'interactions of' in done.stderr  # the rest of stderr is kept


def test_what_else_mxnet_logs_meanwhile_is_passed_on(capfd, monkeypatch):
    import os

    def adam_update(*args, **kwargs):
        os.write(2, b'[0:00] x.h:1: Optimizer with lazy_update = True '
                    b'detected. Be aware\n[0:00] y.h:2: another message\n')
    monkeypatch.setattr(sparse.nd, 'adam_update', adam_update)
    sparse.spend_lazy_update_notice()
    assert capfd.readouterr().err == '[0:00] y.h:2: another message\n'
