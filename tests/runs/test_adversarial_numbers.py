"""Numbers are never faked (issue 12): each test is named after what it
protects, on small files it writes itself.

A NaN score compares false with everything, so a ranking of NaNs puts the
held-out item first: a broken model would print a perfect hit rate. A
metric never measured, undefined for the data or certain by construction
would print a number that looks measured. Options that overflow, and
seeds MXNet would wrap, would give numbers no one asked for.
"""
import collections
import contextlib
import importlib
import json
import os
import signal
import time

import mxnet as mx
import numpy
import pytest

import d2l_ncf.runs.builders
import d2l_ncf.runs.config
import d2l_ncf.runs.run
from d2l_ncf import cli, evaluation, load_chapter_data
from d2l_ncf.runs.checkpoint import load_checkpoint
from d2l_ncf.runs.config import TrainConfig
from d2l_ncf.runs.exercises import run_exercise
from d2l_ncf.engine.scoring import NonFiniteModelError
from d2l_ncf.model import NeuMF
from d2l_ncf.evaluation import RankingEvaluator
from d2l_ncf.engine.scoring import score_pairs
from d2l_ncf.metrics import UndefinedMetricError, full_ranking_metrics
from d2l_ncf.runs.config import check_fits_data
from d2l_ncf.runs.run import train
from d2l_ncf.engine.sampling import NegativeSampler
from synthetic import write_udata

SMALL = ['--batch-size', '32', '--num-factors', '4', '--hiddens', '4',
         '--no-progress', '--devices', 'cpu']
CORRECTED = SMALL + ['--protocol', 'corrected', '--k', '10']


def small_net(num_users=4, num_items=6, sigma=0.1, ctx=None):
    net = NeuMF(3, num_users, num_items, nums_hiddens=[3],
                sigmoid_output=False)
    net.initialize(init=mx.init.Normal(sigma), ctx=ctx or [mx.cpu()])
    return net


def poison(net, value=float('nan')):
    """Set one value of `net`'s item embedding to `value`."""
    weight = net.Q.weight.data()
    weight[0, 0] = value


# --- a model that is not finite is never a model -------------------------

def test_nan_parameters_are_never_scored():
    net = small_net()
    poison(net)
    users, items = numpy.arange(4), numpy.arange(4)
    with pytest.raises(NonFiniteModelError, match='not finite'):
        score_pairs(net, users, items, [mx.cpu()])
    candidates, test = {u: [5] for u in range(4)}, {u: [u] for u in range(4)}
    with pytest.raises(NonFiniteModelError):
        RankingEvaluator('corrected', k=2)(
            net, test, None, candidates, 4, 6, [mx.cpu()])
    with pytest.raises(NonFiniteModelError):  # the slow evaluator too
        evaluation.evaluate_ranking(net, test, None, candidates, 4, 6, [mx.cpu()],
                         protocol='corrected', k=2)


def test_overflowing_scores_are_never_ranked():
    # finite parameters whose scores overflow float32 to inf
    net = small_net(sigma=1e15)
    with pytest.raises(NonFiniteModelError, match='scores are not finite'):
        score_pairs(net, numpy.arange(4), numpy.arange(4), [mx.cpu()])


class PoisonAfter:
    """An averager whose update poisons the net after batch `bad`: the
    last update of an epoch, after which no loss is computed."""
    bad = 5

    def __init__(self, net, decay):
        self.net, self.calls = net, 0

    def update(self):
        self.calls += 1
        if self.calls == self.bad:
            poison(self.net)

    def applied(self):
        return contextlib.nullcontext()

    def state(self):
        return {}


def test_parameters_made_nan_by_the_last_update_stop_the_run(
        synthetic_dir, tmp_path, monkeypatch):
    # 168 training pairs / 32 = 5 batches: update 10 is epoch 2's last
    monkeypatch.setattr(d2l_ncf.runs.builders, 'WeightAverage', PoisonAfter)
    PoisonAfter.bad = 10
    evaluated = []
    real = d2l_ncf.runs.builders.RankingEvaluator.__call__
    monkeypatch.setattr(d2l_ncf.runs.builders.RankingEvaluator, '__call__',
                        lambda self, *a: evaluated.append(1) or real(self,
                                                                     *a))
    ck = tmp_path / 'ck'
    config = TrainConfig(protocol='corrected', k=10, ema=0.5, batch_size=32,
                         num_factors=4, nums_hiddens=(4,), num_epochs=3,
                         data_dir=synthetic_dir, devices='cpu')
    with pytest.raises(NonFiniteModelError) as info:
        train(config, save=str(ck), progress=False)
    message = str(info.value)
    assert message.startswith('epoch 2: parameters are not finite')
    for option in ('--lr 0.01', '--optimizer adam', '--wd 1e-05',
                   '--init-sigma 0.01', '--loss bpr'):
        assert option in message
    assert evaluated == [1]  # epoch 1 only
    assert load_checkpoint(str(ck))['state']['epoch'] == 1  # never saved


def test_diverging_run_names_every_setting_that_can_cause_it(
        synthetic_dir, tmp_path, capsys):
    code = cli.main(['train', '--data-dir', synthetic_dir, '--epochs', '2',
                     '--lr', '1e30', '--out', str(tmp_path / 'run')]
                    + CORRECTED + ['--loss', 'log', '--recency', '2'])
    printed = capsys.readouterr()
    assert code == 1
    assert 'error: epoch 1: the loss is nan' in printed.err
    for option in ('--lr 1e+30', '--optimizer adam', '--wd 1e-05',
                   '--init-sigma 0.01', '--loss log', '--recency 2',
                   '--recency-tau 10'):
        assert option in printed.err
    assert 'hit rate' not in printed.out
    assert not (tmp_path / 'run').exists()


def test_recommend_refuses_a_nan_checkpoint(synthetic_dir, tmp_path,
                                            monkeypatch, capsys):
    ck = tmp_path / 'ck'
    assert cli.main(['train', '--data-dir', synthetic_dir, '--epochs', '1',
                     '--save', str(ck)] + CORRECTED) == 0
    module = importlib.import_module('d2l_ncf.runs.recommending')
    real_restore = module.restore

    def restore_nan(ckpt, net, *args):
        real_restore(ckpt, net, *args)
        poison(net)
    monkeypatch.setattr(module, 'restore', restore_nan)
    capsys.readouterr()
    assert cli.main(['recommend', '--checkpoint', str(ck), '--user',
                     '1']) == 1
    printed = capsys.readouterr()
    assert 'not finite' in printed.err and 'rank' not in printed.out


# --- a metric not measured is absent --------------------------------------

def test_unmeasured_metrics_are_absent_not_zero(synthetic_dir, tmp_path,
                                                capsys):
    out = tmp_path / 'run'
    assert cli.main(['train', '--data-dir', synthetic_dir, '--epochs', '2',
                     '--eval-step', '3', '--out', str(out)]
                    + CORRECTED) == 0
    line = capsys.readouterr().out.strip().splitlines()[-2]
    assert 'hit rate' not in line and '0.000' not in line
    assert 'not evaluated' in line
    record = json.loads((out / 'metrics.json').read_text())
    names = {'hit_rate', 'auc', 'ndcg'}
    assert not names & set(record['final'])
    assert all(not names & set(row) for row in record['history'])


# --- undefined or certain metrics are refused, with the reason ------------

def write_rows(folder, rows):
    t = 874965758
    return write_udata(folder, [(u, i, 3, t + n)
                                for n, (u, i) in enumerate(rows)])


def test_user_with_only_the_held_out_item_unseen_is_refused(tmp_path,
                                                            usage_error):
    # user 1 rated all 6 items: 5 in training, the held-out one is the
    # only item left to rank
    rows = [(1, i) for i in range(1, 7)] + [(2, 1), (2, 2), (3, 3),
                                             (3, 4), (4, 5), (4, 6)]
    folder = write_rows(tmp_path / 'd', rows)
    usage_error(['train', '--data-dir', folder, '--batch-size', '2',
                 '--no-progress', '--protocol', 'corrected', '--k', '1'],
                'user 1 (and 0 more) has no unseen item but the held-out '
                'one, so its AUC is undefined')
    # the evaluator and the metric say so too, instead of AUC 0
    data = load_chapter_data(folder)
    with pytest.raises(UndefinedMetricError, match='AUC is undefined'):
        RankingEvaluator('corrected', k=1)(
            small_net(4, 6), data.test_iter, None, data.candidates, 4, 6,
            [mx.cpu()])
    scores = numpy.zeros((1, 6))
    _, auc, _, _ = full_ranking_metrics(scores, [0], data.candidates,
                                     data.test_iter, 6, 1)
    assert numpy.isnan(auc[0])


@pytest.mark.parametrize('args, message', [
    ([], '--k 50 (the default) is at or above the 33 items ranked'),
    (['--k', '33'], '--k 33 is at or above the 33 items ranked'),
    (['--eval', 'sampled', '--eval-negatives', '20'],
     None),  # default k 10 < 21: allowed
    (['--eval', 'sampled', '--eval-negatives', '20', '--k', '21'],
     '--k 21 is at or above the 21 items of each sampled list'),
    (['--eval', 'sampled', '--eval-negatives', '9'],
     '--k 10 (the default) is at or above the 10 items of each sampled'),
])
def test_k_that_makes_a_hit_certain_is_refused(synthetic_dir, args, message,
                                               usage_error):
    # synthetic users rate 8 of 40 items: 7 in training, 33 ranked
    argv = ['train', '--data-dir', synthetic_dir, '--protocol',
            'corrected', '--epochs', '1'] + SMALL + args
    if message is None:
        assert cli.main(argv) == 0
    else:
        usage_error(argv, message)


def test_k_below_every_list_is_accepted_and_the_evaluator_refuses_above(
        synthetic_dir):
    data = load_chapter_data(synthetic_dir)
    for k, ok in ((32, True), (33, False)):
        config = TrainConfig(protocol='corrected', k=k, batch_size=32)
        if ok:
            check_fits_data(config, data)
        else:
            with pytest.raises(d2l_ncf.runs.config.UsageError):
                check_fits_data(config, data)
    with pytest.raises(UndefinedMetricError, match='certain'):
        RankingEvaluator('corrected', k=60, eval='sampled', num_neg=50)
    with pytest.raises(UndefinedMetricError, match='certain'):
        RankingEvaluator('corrected', k=33)(
            small_net(data.num_users, data.num_items), data.test_iter, None,
            data.candidates, data.num_users, data.num_items, [mx.cpu()])


def test_book_protocol_says_when_its_fixed_k_covers_the_list(
        synthetic_dir, capsys):
    # the chapter's numbers stay as printed; stderr says what they mean
    assert cli.main(['train', '--data-dir', synthetic_dir, '--epochs',
                     '1'] + SMALL) == 0
    err = capsys.readouterr().err
    assert 'note: under the book protocol' in err
    assert 'hit is certain whenever their test item is ranked' in err


# --- options that overflow are usage errors naming the option ------------

@pytest.mark.parametrize('args, message', [
    (['--init-sigma', 'inf'], '--init-sigma must be a finite number'),
    (['--wd', 'inf'], '--wd must be a finite number'),
    (['--lr', 'inf'], '--lr must be a finite number'),
    (['--protocol', 'corrected', '--reg', 'inf'],
     '--reg must be a finite number'),
    (['--protocol', 'corrected', '--loss', 'log', '--recency', 'inf'],
     '--recency must be a finite number'),
    (['--recency-tau', 'inf'], '--recency-tau must be a finite number'),
    (['--wd', 'nan'], 'argument --wd'),
    (['--optimizer', 'groupadagrad'], '--optimizer groupadagrad'),
    (['--optimizer', 'Test'], '--optimizer Test'),
    (['--seed', '-1'], '--seed must be a whole number from 0 to'),
    (['--seed', str(2 ** 31)], '--seed must be a whole number from 0 to'),
])
def test_non_finite_options_bad_optimizers_and_seeds_are_usage_errors(
        tmp_path, args, message, usage_error):
    # the data folder does not exist: each is refused before reading it
    for command in (['train'], ['exercise', 'factors', '--values', '4']):
        printed = usage_error(command + ['--data-dir',
                                         str(tmp_path / 'none')] + args,
                              message)
        assert 'interactions of' not in printed.err


def test_exercise_seeds_outside_the_range_are_a_usage_error(
        synthetic_dir, usage_error):
    usage_error(['exercise', 'factors', '--values', '4', '--seeds', '0',
                 '-1', '--data-dir', synthetic_dir], '--seeds -1')


def test_recency_weights_that_overflow_are_a_usage_error(synthetic_dir,
                                                         usage_error):
    usage_error(['train', '--data-dir', synthetic_dir, '--loss', 'log',
                 '--recency', '1e308'] + CORRECTED,
                '--recency 1e+308 (--recency-tau 10) is too large')


# --- exercise: a repeated seed is one run ---------------------------------

def test_exercise_counts_a_repeated_seed_once(synthetic_dir, capsys):
    base = TrainConfig(protocol='corrected', k=10, batch_size=32,
                       num_factors=4, nums_hiddens=(4,), num_epochs=1,
                       data_dir=synthetic_dir, devices='cpu')
    twice = run_exercise('factors', ['4'], base, (0, 1, 0), progress=False)
    once = run_exercise('factors', ['4'], base, (0, 1), progress=False)
    assert 'seed(s) 0 given more than once' in capsys.readouterr().err
    assert twice[0]['n'] == 2
    for m in ('final_hit_rate', 'final_hit_rate_sd', 'final_auc_sd'):
        assert twice[0][m] == once[0][m]


# --- any number of users and items on any device list ---------------------

def test_evaluation_works_with_fewer_users_than_devices(tmp_path, capsys):
    # 3 test users on 4 devices; user 2 ranks 3 items (one per device)
    rows = [(1, i) for i in range(1, 6)] + [(2, i) for i in range(1, 7)] + [
        (3, 6), (3, 7), (3, 8)]
    folder = write_rows(tmp_path / 'd', rows)
    for extra in ([], ['--reference'],
                  ['--eval', 'sampled', '--eval-negatives', '2']):
        assert cli.main(['train', '--data-dir', folder, '--devices',
                         'cpu:4', '--batch-size', '4', '--epochs', '1',
                         '--protocol', 'corrected', '--k', '2',
                         '--no-progress'] + extra) == 0
        assert 'test hit rate@2' in capsys.readouterr().out


def test_scoring_a_one_row_remainder_over_two_devices():
    net = small_net(ctx=[mx.cpu(0), mx.cpu(1)])
    users, items = numpy.array([0, 1, 2, 3, 0]), numpy.array([0, 1, 2, 3, 5])
    one = score_pairs(net, users, items, [mx.cpu()])
    two = score_pairs(net, users, items, [mx.cpu(0), mx.cpu(1)],
                      batch_size=2)  # chunks of 2, 2 and 1 rows
    assert numpy.allclose(one, two, rtol=1e-6, atol=0)


# --- no quadratic corner in negative sampling ----------------------------

def rejection_draws(candidates, num_items, users, rng):
    """The sampler as it was before dense users: draw, redraw seen."""
    seen = {u: set(items) for u, items in candidates.items()}
    negs = rng.randint(0, num_items, size=len(users))
    redo = numpy.array([n in seen[u] for u, n in zip(users, negs)])
    while redo.any():
        negs[redo] = rng.randint(0, num_items, size=redo.sum())
        redo[redo] = [n in seen[u] for u, n in zip(users[redo], negs[redo])]
    return negs


def test_negatives_of_ordinary_users_are_drawn_as_before():
    # no user past half the catalogue: the same generator calls, the same
    # draws (the book protocol's negatives do not move)
    rng = numpy.random.RandomState(0)
    candidates = {u: rng.choice(30, 15, replace=False).tolist()
                  for u in range(10)}
    users = numpy.tile(numpy.arange(10), 50)
    sampler = NegativeSampler(candidates, 10, 30)
    assert not sampler.dense.any()
    ours = sampler.sample(users, numpy.random.RandomState(3))[:, 0]
    before = rejection_draws(candidates, 30, users,
                             numpy.random.RandomState(3))
    assert numpy.array_equal(ours, before)


def test_negatives_of_a_dense_user_are_uniform_and_unseen():
    # 10 items, 7 seen: 3 unseen, 30,000 draws, 10,000 expected each.
    # Chi-square, 2 degrees of freedom: P(X > 13.82) = 0.001.
    sampler = NegativeSampler({0: [0, 1, 2, 4, 5, 7, 9], 1: [3]}, 2, 10)
    assert sampler.dense.tolist() == [True, False]
    negs = sampler.sample(numpy.zeros(30000, dtype=int),
                          numpy.random.RandomState(2))[:, 0]
    counts = collections.Counter(negs.tolist())
    assert set(counts) == {3, 6, 8}
    chi2 = sum((c - 10000) ** 2 / 10000 for c in counts.values())
    assert chi2 < 13.82


def test_dense_users_draw_exactly_their_unseen_items():
    # every position among a dense user's unseen items maps to one item
    rng = numpy.random.RandomState(0)
    candidates = {u: sorted(rng.choice(40, rng.randint(21, 40),
                                       replace=False).tolist())
                  for u in range(20)}
    sampler = NegativeSampler(candidates, 20, 40)
    assert sampler.dense.all()
    for u, seen in candidates.items():
        unseen = sorted(set(range(40)) - set(seen))
        users = numpy.full(5000, u)
        negs = sampler.sample(users, rng)[:, 0]
        assert set(negs.tolist()) == set(unseen)


def test_negative_sampling_cost_stays_bounded_for_a_dense_user():
    # user 0 rated all but 3 of 8,000 items: by rejection each negative
    # took ~2,700 draws. Now it costs about what an ordinary user's does.
    sampler = NegativeSampler({0: list(range(7997)), 1: list(range(100))},
                              2, 8000)

    def seconds(user):
        users = numpy.full(100000, user)
        best = float('inf')
        for _ in range(3):
            tic = time.perf_counter()
            negs = sampler.sample(users, numpy.random.RandomState(0))
            best = min(best, time.perf_counter() - tic)
        return best, negs
    dense, negs = seconds(0)
    ordinary, _ = seconds(1)
    assert set(negs.ravel().tolist()) == {7997, 7998, 7999}
    assert dense < 10 * ordinary + 0.05


@pytest.mark.parametrize('args, message', [
    (['--lr', '1e308'], '--lr 1e+308 is outside what MXNet'),
    (['--wd', '1e39'], '--wd 1e+39 is outside what MXNet'),
    (['--init-sigma', '1e39'], '--init-sigma 1e+39 is outside what MXNet'),
    (['--ema', '1e-320'], 'use 0 or a value from 1e-30'),
    (['--num-factors', '100000000'], '--num-factors 100000000: at most 4096'),
    (['--hiddens', '10', '100000000'], '--hiddens 10 100000000: at most'),
    (['--num-neg', '100000000'], '--num-neg 100000000: at most 1000'),
])
def test_values_beyond_float32_or_memory_are_usage_errors_not_tracebacks(
        args, message, synthetic_dir, usage_error):
    usage_error(['train', '--protocol', 'corrected', '--k', '10',
                 '--data-dir', synthetic_dir, '--no-progress'] + args,
                message)


def test_progress_bar_total_counts_the_batches_rollover_included():
    # the leftover examples of an epoch open the next one, so some epochs
    # hold one batch more than the first: the bar's total counts them
    # (it once showed 967/960)
    from d2l_ncf.engine.sampling import TripleBatches
    from d2l_ncf.corrected import total_batches
    candidates = {u: [u] for u in range(10)}
    users = numpy.tile(numpy.arange(10), 10)  # 100 examples
    batches = TripleBatches(users, users, NegativeSampler(candidates, 10, 30),
                            32, numpy.random.RandomState(0))
    assert len(batches) == 3
    expected = total_batches(batches, 7)
    assert expected == 700 // 32 == 21  # not 7 * 3
    assert sum(1 for _ in range(7) for _ in batches) == expected
    assert total_batches(batches, 2) == (len(batches._prev) + 200) // 32


@pytest.mark.slow
def test_a_long_run_keeps_little_python_memory_per_epoch(synthetic_dir,
                                                         monkeypatch):
    # what the package itself keeps per epoch (the history row, the
    # timer's per-batch times) stays small: no per-epoch arrays, bars or
    # scores pile up. MXNet's autograd grows by about 9 kB per recorded
    # step outside Python's heap; docs/GUARANTEES.md has the numbers.
    import tracemalloc
    import d2l_ncf.corrected
    from d2l_ncf.runtime import stopping
    real, epochs, traced = d2l_ncf.corrected.check_finite, [], []
    first, last = 30, 230

    def counting(net, epoch_loss, epoch):
        real(net, epoch_loss, epoch)
        epochs.append(epoch)
        if len(epochs) == first:
            tracemalloc.start(1)
        if len(epochs) in (first + 1, last):  # once tracing settled
            traced.append(tracemalloc.get_traced_memory()[0])
        if len(epochs) == last:
            stopping._requested.append(signal.SIGTERM)
    monkeypatch.setattr(d2l_ncf.corrected, 'check_finite', counting)
    config = TrainConfig(data_dir=synthetic_dir, batch_size=32,
                         num_factors=4, nums_hiddens=(4, 4),
                         protocol='corrected', k=10, devices='cpu',
                         num_epochs=10 ** 6)
    try:
        with pytest.raises(d2l_ncf.runs.run.RunStopped):
            train(config, progress=False)
    finally:
        tracemalloc.stop()
        del stopping._requested[:]
    per_epoch = (traced[1] - traced[0]) / (last - first - 1)
    assert 0 < per_epoch < 3000, per_epoch


def test_the_book_protocol_says_when_it_ranks_no_test_item(tmp_path,
                                                           capsys):
    # issue 23: 0.000/0.000 without a word. 3 users, 9 items; each
    # user's last (test) item is 8, 9 or 10, at indices 6-8, and the
    # chapter ranks only indices below the 3 users
    t = 874965758
    rows = [(u, i, 3, t + 10 * u + i) for u in (1, 2, 3)
            for i in (1, 2, 3, 4, 5, 6)]
    rows += [(u, 7 + u, 3, t + 1000 + u) for u in (1, 2, 3)]
    data = write_udata(tmp_path / 'data', rows)
    assert cli.main(['train', '--data-dir', data, '--epochs', '1',
                     '--batch-size', '4', '--num-factors', '4', '--hiddens',
                     '4', '--no-progress', '--devices', 'cpu']) == 0
    printed = capsys.readouterr()
    assert 'test hit rate 0.000, test AUC 0.000' in printed.out
    assert 'no test item is ranked' in printed.err


# --- settings that cannot fit in memory are refused before training ----

def test_settings_that_cannot_fit_in_memory_are_refused_first(
        synthetic_dir):
    # issue 23: 40 layers of 4096 trained 133 s, then the process was
    # killed. 1000 layers of 4096 need ~270 GB: no test machine has it.
    # In a process whose address space is capped at 16 GB, so that a
    # regression fails fast instead of waking the out-of-memory killer
    import resource
    import subprocess
    import sys

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (16 << 30, 16 << 30))
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, '-m', 'd2l_ncf', 'train', '--data-dir',
         synthetic_dir, '--epochs', '1'] + CORRECTED + ['--hiddens']
        + ['4096'] * 1000, preexec_fn=cap, capture_output=True, text=True,
        timeout=300, env=dict(os.environ, PYTHONPATH=repo))
    assert done.returncode == 2, done.stderr[-2000:]
    assert 'these settings need about' in done.stderr
    assert '1000 layers of up to 4096' in done.stderr
    assert 'GB available' in done.stderr
    assert 'train loss' not in done.stdout


def test_the_memory_estimate_counts_parameters_state_and_activations():
    from d2l_ncf.runs.config import UsageError, check_memory, memory_estimate
    # 40 layers of 4096 on ML-100K: ~40 x 4096^2 weights, 4 float32
    # copies with Adam (16 bytes each); a batch of 1024 positives and
    # 1024 negatives keeps 3 floats per hidden unit and 4 per factor
    # (factors 10); scoring keeps 2 x 4096 floats for 2^17 pairs; 0.26
    # GB for the libraries: ~19 GB
    big = TrainConfig(nums_hiddens=(4096,) * 40, batch_size=1024,
                      devices='cpu')
    total, params = memory_estimate(big, 943, 1682)
    assert params > 40 * 4096 ** 2 - 4096 ** 2
    assert total == pytest.approx(
        16 * params + 4 * 2048 * (40 * 4096 + 40) * 3
        + 4 * 2 ** 17 * 2 * 4096 + 0.26e9)
    with pytest.raises(UsageError, match=r'need about 19\.\d GB'):
        check_memory(big, 943, 1682, available=8e9)
    check_memory(big, 943, 1682, available=32e9)  # fits: no error


@pytest.mark.parametrize('config, users, items', [
    (TrainConfig(devices='cpu:2'), 943, 1682),  # the chapter's run
    (TrainConfig(protocol='corrected', devices='cpu', sparse=True),
     138493, 26744),  # the ML-20M shape, --sparse
    (TrainConfig(protocol='corrected', devices='cpu', num_factors=64,
                 nums_hiddens=(256, 128, 64), num_neg=4), 6040, 3706),
], ids=['book', 'ml-20m-sparse', 'recipe-like-ml-1m'])
def test_normal_settings_are_not_refused_for_memory(config, users, items):
    from d2l_ncf.runs.config import check_memory, memory_estimate
    assert memory_estimate(config, users, items)[0] < 1e9
    check_memory(config, users, items, available=1e9)
