"""d2l-ncf ablation (issue 25): the baselines, pre-training, the job and
its report."""
import csv
import dataclasses
import json
import math

import matplotlib.image
import numpy
import pytest

from d2l_ncf import GMF, MF, MLP, Popularity, cli, load_dataset
from d2l_ncf.runs.ablation import (MODELS, RECIPES, model_config,
                                   run_ablation, train_model,
                                   validation_data)
from d2l_ncf.callbacks import Callback
from d2l_ncf.runs.config import UsageError
from d2l_ncf.engine.sampling import sample_eval_negatives
from synthetic import make_ratings, write_udata

CPU = {'devices': 'cpu'}


def expected(scores, ranked, test, k):
    """Hit@k, NDCG@k and AUC of item `test` among the items `ranked`
    (which hold it), ties in expectation (issue 23): with `a` items
    scoring above it and `t` others equal, its place is uniform on
    a..a+t; AUC counts each tie as one half."""
    s, mine = scores[ranked], scores[test]
    a = int((s > mine).sum())
    t = int((s == mine).sum()) - 1  # the test item equals itself
    below = len(ranked) - 1 - a - t
    hit = min(max((k - a) / (t + 1), 0.0), 1.0)
    ndcg = numpy.mean([1 / math.log2(p + 2) if p < k else 0.0
                       for p in range(a, a + t + 1)])
    return hit, ndcg, (below + 0.5 * t) / (len(ranked) - 1), t


def popularity_by_hand(data, k_full=50, k_sampled=10, negatives=None):
    """The popularity model's metrics, computed here with NumPy:
    ``{'full': {...}, 'sampled': {...}}`` and the share of test items
    tied with another listed item."""
    counts = numpy.bincount(data.items_train, minlength=data.num_items)
    users = sorted(data.test_iter)
    full, sampled, tied = [], [], 0
    for r, u in enumerate(users):
        test = data.test_iter[u][0]
        unseen = numpy.setdiff1d(numpy.arange(data.num_items),
                                 data.candidates[u])
        hit, ndcg, auc, t = expected(counts, unseen, test, k_full)
        full.append((hit, auc, ndcg))
        tied += t > 0
        if negatives is not None:
            listed = numpy.r_[test, negatives[r]]
            hit, ndcg, _, _ = expected(counts, listed, test, k_sampled)
            sampled.append((hit, ndcg))
    hand = {'full': dict(zip(('hit_rate', 'auc', 'ndcg'),
                             numpy.mean(full, axis=0)))}
    if negatives is not None:
        hand['sampled'] = dict(zip(('hit_rate', 'ndcg'),
                                   numpy.mean(sampled, axis=0)))
    return hand, tied / len(users)


def tiny_with_ties(folder, seed=0):
    """12 users, 110 items, each user 10 training items and a latest
    one for test: every user's unseen items are exactly 99, so the
    sampled evaluation lists all of them whatever its seed. Training
    counts are 0, 1 or 2: many ties, the test item's among them."""
    rng = numpy.random.RandomState(seed)
    slots = numpy.r_[rng.permutation(110), rng.randint(0, 110, 22)]
    rows, t = [], 1000
    for u in range(12):
        items = list(dict.fromkeys(slots[u * 11:(u + 1) * 11].tolist()))
        pool = iter(rng.permutation(110).tolist())
        while len(items) < 11:  # a repeat drawn twice: another item
            i = next(pool)
            if i not in items:
                items.append(i)
        for i in items:
            t += 10
            rows.append((u + 1, i + 1, 4, t))
    seen = {r[1] for r in rows}
    assert seen == set(range(1, 111))
    return write_udata(folder, rows)


def test_model_names_match_the_command_line():
    from d2l_ncf.runs.config import MODELS as ABLATION_MODELS
    assert ABLATION_MODELS == MODELS
    assert set(RECIPES) == set(MODELS)


def test_popularity_equals_a_hand_computation_with_ties(tmp_path):
    data = load_dataset('ml-100k', data_dir=tiny_with_ties(tmp_path / 'd'))
    assert all(len(data.candidates[u]) == 10 for u in data.test_iter)
    rows = run_ablation(['popularity'], seeds=[3], progress=False,
                        data=data, **CPU)
    hand, tied = popularity_by_hand(data, negatives=numpy.array([
        numpy.setdiff1d(numpy.arange(110), data.candidates[u]
                        + data.test_iter[u]) for u in sorted(
                            data.test_iter)]))
    assert tied > 0.5  # the ties are what this test is about
    assert [(r['model'], r['eval'], r['k']) for r in rows] == [
        ('popularity', 'full', 50), ('popularity', 'sampled', 10)]
    for row in rows:
        for metric, value in hand[row['eval']].items():
            assert row[metric] == pytest.approx(value, abs=1e-9), (
                row['eval'], metric)
    assert rows[0]['tie_share'] == pytest.approx(tied)


def test_popularity_scores_training_counts_for_every_user():
    import mxnet as mx
    net = Popularity(5)
    net.initialize(ctx=mx.cpu())
    net.fit([0, 3, 3, 4, 3])
    users = mx.np.array([0, 1, 2, 0, 1])
    items = mx.np.array([0, 1, 2, 3, 4])
    assert net(users, items).asnumpy().ravel().tolist() == [
        1, 0, 0, 3, 1]


def clustered(tmp_path, **kwargs):
    """Clustered synthetic data (tests/synthetic.py): each user's test
    item is one of its cluster's items."""
    rows = make_ratings(**dict(dict(num_users=48, num_items=120,
                                    num_clusters=8, per_user=10),
                               **kwargs))
    return load_dataset('ml-100k', data_dir=write_udata(
        tmp_path / 'clustered', rows))


@pytest.mark.parametrize('model', ['mf', 'gmf', 'mlp'])
def test_baselines_learn_the_clusters(model, tmp_path):
    # A user's cluster owns 15 items, 10 of them the user's (one held
    # out), so the test item is one of 5 unseen items of the cluster
    # among about 110: a model that learned the clusters puts it in the
    # top 50 (chance: Hit@50 0.45) and above most items (chance: AUC
    # 0.5; at best about 0.98). Popularity cannot tell the clusters.
    data = clustered(tmp_path)
    rows = run_ablation([model], seeds=[0], progress=False, data=data,
                        evals=['full'], num_epochs=30, batch_size=32,
                        lr=0.03, init_sigma=0.1, **CPU)
    (row,) = rows
    assert row['hit_rate'] > 0.9 and row['auc'] > 0.85, row
    pop = run_ablation(['popularity'], seeds=[0], progress=False,
                       data=data, evals=['full'], **CPU)[0]
    assert row['auc'] > pop['auc'] + 0.3, (row, pop)


class Snapshot(Callback):
    """The weights and optimizer a training loop starts with."""

    def on_train_begin(self, net, trainer, batches_per_epoch,
                       total_batches):
        self.values = {name: p.data().asnumpy().copy() for name, p in
                        net.collect_params().items()}
        self.optimizer = type(trainer._optimizer).__name__


def test_neumf_pre_starts_from_the_trained_gmf_and_mlp(tmp_path):
    data = clustered(tmp_path)
    trained = {}
    for model in ('gmf', 'mlp'):
        config = model_config(model, dict(num_epochs=2, batch_size=64,
                                          **CPU))
        trained[model], _ = train_model(model, config, data, [
            __import__('mxnet').cpu()])
    gmf, mlp = trained['gmf'], trained['mlp']
    start = Snapshot()
    config = model_config('neumf-pre', dict(num_epochs=1, batch_size=64,
                                            **CPU))
    neumf, _ = train_model('neumf-pre', config, data,
                           [__import__('mxnet').cpu()], trained, [start])
    w = dict(zip(['P', 'Q', 'U', 'V'], [
        start.values[neumf.P.weight.name],
        start.values[neumf.Q.weight.name],
        start.values[neumf.U.weight.name],
        start.values[neumf.V.weight.name]]))
    for name, source in (('P', gmf.P), ('Q', gmf.Q), ('U', mlp.U),
                         ('V', mlp.V)):
        numpy.testing.assert_array_equal(w[name],
                                         source.weight.data().asnumpy())
    for mine, theirs in zip(neumf.mlp, mlp.mlp):
        for p in ('weight', 'bias'):
            numpy.testing.assert_array_equal(
                start.values[getattr(mine, p).name],
                getattr(theirs, p).data().asnumpy())
    h = start.values[neumf.prediction_layer.weight.name]
    h_gmf = gmf.prediction_layer.weight.data().asnumpy()
    h_mlp = mlp.prediction_layer.weight.data().asnumpy()
    assert h.shape == (1, h_gmf.shape[1] + h_mlp.shape[1])
    numpy.testing.assert_array_equal(h, numpy.concatenate(
        [0.5 * h_gmf, 0.5 * h_mlp], axis=1))
    assert start.optimizer == 'SGD'  # the NCF paper's, after pre-training
    # and the parts themselves were trained, not left as initialised
    assert numpy.abs(h_gmf).max() > 0.05


def test_neumf_pre_without_its_parts_trains_them_unreported(tmp_path):
    data = clustered(tmp_path)
    rows = run_ablation(['neumf-pre'], seeds=[0], progress=False,
                        data=data, evals=['full'], num_epochs=1,
                        batch_size=64, **CPU)
    assert [r['model'] for r in rows] == ['neumf-pre']


def test_ablation_command_writes_every_row(tmp_path, capsys):
    data_dir = write_udata(tmp_path / 'd', make_ratings(
        num_users=24, num_items=120, per_user=8))
    out = tmp_path / 'out'
    code = cli.main(['ablation', '--epochs', '2', '--seeds', '0', '1',
                     '--out', str(out), '--data-dir', data_dir,
                     '--batch-size', '32', '--devices', 'cpu',
                     '--no-progress'])
    assert code == 0
    record = json.loads((out / 'ablation.json').read_text())
    keys = {(r['model'], r['eval'], r['seed']) for r in record['rows']}
    assert keys == {(m, e, s) for m in MODELS for e in ('full', 'sampled')
                    for s in (0, 1)}
    for row in record['rows']:
        names = {'hit_rate', 'auc', 'ndcg'} if row['eval'] == 'full' \
            else {'hit_rate', 'ndcg'}
        assert names <= set(row) and (row['eval'] == 'full'
                                      or 'auc' not in row)
        assert all(0 <= row[m] <= 1 for m in names)
    # typed options apply to every model over its recipe
    assert all(s['num_epochs'] == 2 and s['batch_size'] == 32
               for s in record['settings'].values())
    assert record['settings']['neumf-pre']['optimizer'] == 'sgd'
    assert record['recipes']['mf'] == RECIPES['mf']
    with open(out / 'ablation.csv') as f:
        table = list(csv.DictReader(f))
    assert len(table) == 12 and {r['n'] for r in table} == {'2'}
    md = (out / 'ablation.md').read_text()
    assert 'mean ± sd over 2 seeds' in md and '±' in md.split('\n')[4]
    assert md in capsys.readouterr().out
    image = matplotlib.image.imread(str(out / 'ablation.png'))
    assert image.ndim == 3 and image.shape[1] > 600


def test_one_seed_says_n_1_not_sd(tmp_path):
    data = clustered(tmp_path)
    out = tmp_path / 'out'
    run_ablation(['popularity', 'mf'], seeds=[0], out=str(out),
                 progress=False, data=data, num_epochs=1,
                 batch_size=64, **CPU)
    md = (out / 'ablation.md').read_text()
    assert 'n=1' in md and '±' not in md
    with open(out / 'ablation.csv') as f:
        assert all(r['hit_rate_sd'] == '' for r in csv.DictReader(f))


def test_unknown_model_is_a_usage_error(usage_error):
    usage_error(['ablation', '--models', 'mf', 'svd'], "invalid choice: "
                "'svd'")
    with pytest.raises(UsageError, match="unknown model 'svd'"):
        run_ablation(['svd'])


@pytest.mark.parametrize('argv, message', [
    (['--protocol', 'book'], 'corrected protocol'),
    (['--k', '10'], 'keeps its cut-off'),
    (['--eval', 'sampled'], 'both evaluations'),
    (['--seed', '3'], 'use --seeds'),
])
def test_settings_the_ablation_fixes_are_refused(argv, message,
                                                 usage_error):
    usage_error(['ablation'] + argv, message)


def test_validation_item_is_the_latest_training_item(tmp_path):
    folder = write_udata(tmp_path / 'd', make_ratings())
    data = load_dataset('ml-100k', data_dir=folder)
    config = dataclasses.replace(model_config('mf', {}), data_dir=folder)
    valid = validation_data(config)
    assert valid.test_iter == {u: [data.candidates[u][-1]]
                               for u in valid.test_iter}
    for u, items in valid.candidates.items():
        assert data.test_iter[u][0] not in items + valid.test_iter[u]
        assert items == data.candidates[u][:-1]


def test_baselines_score_pairs_as_the_chapter_does():
    import mxnet as mx
    users, items = mx.np.array([0, 1, 2]), mx.np.array([3, 4, 5])
    for net in (MF(4, 3, 6), GMF(4, 3, 6), MLP(4, 3, 6, [5, 3])):
        net.initialize(ctx=mx.cpu(), init=mx.init.Normal(0.1))
        before = net(users, items).asnumpy()
        net.hybridize()
        assert before.shape == (3, 1)
        numpy.testing.assert_allclose(net(users, items).asnumpy(), before,
                                      rtol=1e-6)


@pytest.mark.slow
def test_ablation_one_seed_on_real_data(real_data_dir, tmp_path):
    out = tmp_path / 'real'
    code = cli.main(['ablation', '--epochs', '1', '--seeds', '0', '--out',
                     str(out), '--data-dir', real_data_dir, '--devices',
                     'cpu', '--no-progress'])
    assert code == 0
    rows = json.loads((out / 'ablation.json').read_text())['rows']
    assert len(rows) == len(MODELS) * 2
    data = load_dataset('ml-100k', data_dir=real_data_dir)
    users = sorted(data.test_iter)
    # the sampled list's 99 negatives are the protocol's input, drawn by
    # its seeded sampler; the metrics on them are computed here
    negatives = sample_eval_negatives(data.candidates, data.test_iter,
                                      data.num_items, users,
                                      numpy.random.RandomState(0))
    hand, _ = popularity_by_hand(data, negatives=negatives)
    for row in rows:
        if row['model'] == 'popularity':
            for metric, value in hand[row['eval']].items():
                assert row[metric] == pytest.approx(value, abs=1e-9)
    learned = {r['model']: r for r in rows if r['eval'] == 'full'}
    assert learned['mf']['auc'] > 0.75  # one epoch already learns


def test_reg_penalises_the_rows_each_model_has():
    # --reg for any model: the squared rows of the batch's users and
    # items (positives and negatives), whichever embeddings it holds
    import mxnet as mx
    from d2l_ncf.baselines import row_l2
    users, items = mx.np.array([0, 2]), mx.np.array([1, 4])
    negatives = mx.np.array([3, 3])
    net = MF(3, 4, 5)
    net.initialize(ctx=mx.cpu(), init=mx.init.Normal(0.1))
    rows = {n: getattr(net, n).weight.data().asnumpy()
            for n in ('P', 'Q', 'user_bias', 'item_bias')}
    hand = sum((rows[n][[0, 2]] ** 2).sum() for n in ('P', 'user_bias'))
    hand += sum((rows[n][[1, 4, 3, 3]] ** 2).sum()
                for n in ('Q', 'item_bias'))
    got = float(row_l2(0.5)(net, users, items, negatives))
    assert got == pytest.approx(0.5 * hand, rel=1e-5)
    mlp = MLP(3, 4, 5, [2])
    mlp.initialize(ctx=mx.cpu(), init=mx.init.Normal(0.1))
    u, v = mlp.U.weight.data().asnumpy(), mlp.V.weight.data().asnumpy()
    hand = (u[[0, 2]] ** 2).sum() + (v[[1, 4, 3, 3]] ** 2).sum()
    assert float(row_l2(1.0)(mlp, users, items, negatives)) == \
        pytest.approx(hand, rel=1e-5)


def test_findings_say_higher_lower_and_within_noise():
    from d2l_ncf.runs.ablation_report import markdown, summarise
    rows = [dict(model=m, eval='full', seed=s, k=50, hit_rate=h, auc=a,
                 ndcg=0.1) for m, s, h, a in (
        ('mf', 0, 0.30, 0.80), ('mf', 1, 0.32, 0.90),  # sd 0.014, 0.071
        ('neumf', 0, 0.40, 0.84), ('neumf', 1, 0.40, 0.86))]
    text = markdown(summarise(rows))
    # Hit@50 -0.09: beyond 2 x sqrt(0.014^2 / 2 + 0) = 0.020; AUC 0.000
    # within 2 x sqrt(0.071^2 / 2 + 0.014^2 / 2) = 0.102
    assert ('- mf trails neumf: lower on Hit@50 full -0.090; within '
            'noise on AUC full +0.000, NDCG@50 full +0.000') in text
    assert '| mf | 0.310 ± 0.014 | 0.850 ± 0.071 |' in text
    # 943 test items: the hit rate's binomial error, 2 x sqrt(0.31 x
    # 0.69 / 943 + 0.4 x 0.6 / 943) = 0.044, still below 0.09; with 100
    # test items (0.135) the same difference is within noise
    for num_test, verdict in ((943, 'lower on Hit@50'),
                              (100, 'within noise on Hit@50')):
        counted = [dict(r, num_test=num_test) for r in rows]
        assert verdict in markdown(summarise(counted))
    # AUC and NDCG: each test item's value lies in [0, 1], so
    # sqrt(p (1 - p) / n) bounds their test-set error too. AUC -0.020
    # with no spread over seeds: a finding over the seeds alone, within
    # 2 x sqrt(0.84 x 0.16 / 943 + 0.86 x 0.14 / 943) = 0.033 over the
    # test items, and beyond it with 10,000 test items (0.010)
    steady = [dict(r, auc=0.84 if r['model'] == 'mf' else 0.86)
              for r in rows]
    assert 'lower on Hit@50 full -0.090, AUC full -0.020' in markdown(
        summarise(steady))
    for num_test, verdict in ((943, 'within noise on AUC full -0.020'),
                              (10000, 'AUC full -0.020;')):
        counted = [dict(r, num_test=num_test) for r in steady]
        assert verdict in markdown(summarise(counted)), num_test
    # one seed: no measure of noise, so no verdict
    one = markdown(summarise([r for r in rows if r['seed'] == 0]))
    assert 'one seed (n=1): no comparison is a finding' in one
    assert 'trails' not in one and 'beats' not in one


def test_a_stop_keeps_the_finished_seeds(tmp_path, monkeypatch):
    # SIGINT during seed 1: seed 0's rows stay in --out, and the stop
    # says so (exit 130 from the command line, as train's)
    import d2l_ncf.runs.ablation as ablation
    from d2l_ncf.runtime.stopping import RunStopped
    data = clustered(tmp_path)
    real = ablation.train_model

    def stopped_in_seed_1(model, config, *args, **kwargs):
        if config.seed == 1:  # a deterministic point: no timing
            raise KeyboardInterrupt
        return real(model, config, *args, **kwargs)
    monkeypatch.setattr(ablation, 'train_model', stopped_in_seed_1)
    out = tmp_path / 'out'
    with pytest.raises(RunStopped, match='the finished seeds are in'):
        run_ablation(['popularity', 'mf'], seeds=[0, 1], out=str(out),
                     progress=False, data=data, num_epochs=1,
                     batch_size=64, **CPU)
    record = json.loads((out / 'ablation.json').read_text())
    rows = record['rows']
    assert {r['seed'] for r in rows} == {0} and len(rows) == 4
    # the record says it is incomplete (new-user pass: it looked whole)
    assert record['finished_seeds'] == [0] and record['complete'] is False


def test_a_catalogue_too_small_for_k_50_is_told_what_it_can_do(
        synthetic_dir, usage_error):
    # found by the new-user pass: the error advised --k, which the
    # ablation refuses; 40 items cannot rank the full list at k = 50 nor
    # sample 99 negatives: the data is too small, whatever --evals says
    # (issue 32: the advice looped, ending in a literal '--evals ...')
    for evals in (['full', 'sampled'], ['full'], ['sampled']):
        printed = usage_error(
            ['ablation', '--data-dir', synthetic_dir, '--models', 'mf',
             '--seeds', '0', '--epochs', '1', '--devices', 'cpu',
             '--batch-size', '32', '--no-progress', '--evals'] + evals,
            'This data is too small for the ablation')
        assert '--evals' not in printed.err.splitlines()[-1]


def test_a_batch_size_refusal_advises_no_evaluation(synthetic_dir,
                                                    usage_error):
    # issue 32: every refusal advised --evals sampled, even one that an
    # evaluation cannot help
    printed = usage_error(
        ['ablation', '--data-dir', synthetic_dir, '--models', 'mf',
         '--seeds', '0', '--devices', 'cpu', '--no-progress'],
        '--batch-size 1024 is larger than the 168 training interactions')
    assert '--evals' not in printed.err.splitlines()[-1]


def test_a_catalogue_too_small_for_one_evaluation_advises_the_other(
        tmp_path, usage_error):
    # 60 items: the full ranking at k = 50 is certain for some user, the
    # sampled one (10 negatives given) works
    folder = write_udata(tmp_path / 'd', make_ratings(
        num_users=24, num_items=60, per_user=12))
    usage_error(['ablation', '--data-dir', folder, '--models', 'mf',
                 '--seeds', '0', '--devices', 'cpu', '--batch-size', '32',
                 '--eval-negatives', '20', '--no-progress'],
                'leave that evaluation out: --evals sampled')


def ratings_csv(tmp_path, **kwargs):
    path = tmp_path / 'ratings.csv'
    path.write_text(''.join(f'{u},{i},{r},{t}\n' for u, i, r, t in
                            make_ratings(**dict(dict(
                                num_users=24, num_items=120, per_user=8),
                                **kwargs))))
    return str(path)


def small_data(tmp_path):
    """The data of `ratings_csv`, as a MovieLens folder and loaded."""
    folder = write_udata(tmp_path / 'small', make_ratings(
        num_users=24, num_items=120, per_user=8))
    return folder, load_dataset('ml-100k', data_dir=folder)


def test_ablation_reads_a_data_file(tmp_path, capsys):
    # issue 31/32: `--data FILE` crashed on every file ('str' object has
    # no attribute 'num_users'): --data was taken as run_ablation's data
    out, path = tmp_path / 'out', ratings_csv(tmp_path)
    assert cli.main(['ablation', '--data', path,
                     '--models', 'popularity', 'mf', '--seeds', '0',
                     '--epochs', '1', '--batch-size', '32', '--devices',
                     'cpu', '--no-progress', '--out', str(out)]) == 0
    record = json.loads((out / 'ablation.json').read_text())
    with open(path) as f:
        assert record['data']['interactions'] == len(f.readlines())
    assert record['settings']['mf']['data'].endswith('ratings.csv')
    assert '| mf |' in capsys.readouterr().out
    # and through the Python API: a path is the file to read
    rows = run_ablation('popularity', seeds=[0], progress=False,
                        data=ratings_csv(tmp_path), evals='full', **CPU)
    assert [r['model'] for r in rows] == ['popularity']


def test_a_full_disk_while_writing_the_report_prints_the_rows(
        tmp_path, monkeypatch, capsys):
    # issue 32: a traceback, and the finished seeds' rows were lost
    import errno
    import os

    def full(*args):
        raise OSError(errno.ENOSPC, 'No space left on device', args[0])
    monkeypatch.setattr(os, 'replace', full)
    out = tmp_path / 'out'
    code = cli.main(['ablation', '--data-dir', small_data(tmp_path)[0],
                     '--models', 'popularity', '--seeds', '0', '--devices',
                     'cpu', '--no-progress', '--out', str(out)])
    printed = capsys.readouterr()
    assert code == 1
    assert 'No space left on device' in printed.err
    assert 'Traceback' not in printed.err
    assert '| popularity |' in printed.out  # the finished seed's rows
    assert not [f for f in os.listdir(out) if '.tmp-' in f]


def test_an_empty_out_is_refused_before_any_work(tmp_path, usage_error,
                                                 monkeypatch):
    # issue 32: `--out ''` trained, then crashed in os.makedirs('')
    import d2l_ncf.runs.ablation as ablation
    monkeypatch.setattr(ablation, 'train_model', None)  # never reached
    monkeypatch.setattr(ablation, 'fit_one', None, raising=False)
    folder, data = small_data(tmp_path)
    usage_error(['ablation', '--data-dir', folder, '--models', 'mf',
                 '--seeds', '0', '--devices', 'cpu', '--batch-size', '32',
                 '--out', ''], "--out '': expected a folder name")
    with pytest.raises(UsageError, match="--out '': expected a folder"):
        run_ablation(['mf'], seeds=[0], out='', progress=False, data=data,
                     batch_size=32, **CPU)


def test_a_diverging_model_names_model_seed_and_settings(tmp_path):
    from d2l_ncf.corrected import NonFiniteLossError
    from d2l_ncf.engine.scoring import NonFiniteModelError
    with pytest.raises((NonFiniteLossError, NonFiniteModelError)) as err:
        run_ablation(['mf'], seeds=[4], progress=False,
                     data=small_data(tmp_path)[1], evals=['full'],
                     num_epochs=2, batch_size=32, lr=1e30, **CPU)
    assert 'mf, seed 4' in str(err.value) and '--lr 1e+30' in str(err.value)


def test_the_report_names_the_sampled_negatives(tmp_path):
    # issue 32: ablation.md said "Hit@10 (sampled)" under 20 negatives,
    # as if it were the NCF paper's 99
    out = tmp_path / 'out'
    run_ablation(['popularity'], seeds=[0], out=str(out), progress=False,
                 data=small_data(tmp_path)[1], eval_negatives=20, **CPU)
    md = (out / 'ablation.md').read_text()
    assert 'Hit@10 (sampled, 20 negatives)' in md
    assert 'Hit@50 (full)' in md


def test_the_python_api_names_wrong_arguments(tmp_path):
    # issue 32: 'mf' read as the models 'm' and 'f'; a list of hidden
    # sizes (as the README passes it) a TypeError; wrong types raw
    # TypeErrors; seeds=[] returned [] and wrote nothing
    assert model_config('mlp', {'nums_hiddens': [8]}).nums_hiddens == (8,)
    data = small_data(tmp_path)[1]
    rows = run_ablation('popularity', seeds=[0], progress=False, data=data,
                        **CPU)
    assert {r['model'] for r in rows} == {'popularity'}
    for kwargs, message in [
            (dict(seeds='0'), "--seeds '0': expected whole numbers"),
            (dict(seeds=[]), '--seeds []: expected whole numbers'),
            (dict(seeds=[0.5]), '--seeds 0.5: expected whole numbers'),
            (dict(seeds=None), '--seeds None: expected whole numbers'),
            (dict(num_epochs='2'), 'num_epochs is "2", expected a whole '
                                   'number'),
            (dict(data=5), 'data: expected a file of interactions'),
            (dict(models='svd'), "unknown model 'svd'")]:
        kwargs = dict(dict(models=['mf'], seeds=[0], data=data), **kwargs)
        with pytest.raises(ValueError) as err:
            run_ablation(progress=False, **kwargs, **CPU)
        assert message in str(err.value), (kwargs, str(err.value))


def test_a_model_named_twice_is_trained_once_with_a_note(capsys):
    from d2l_ncf.runs.ablation import check_models
    assert check_models(['mf', 'gmf', 'mf']) == ['mf', 'gmf']
    assert 'model(s) mf given more than once' in capsys.readouterr().err
