"""The corrected protocol learns; the book protocol, as printed, does not.

On clustered synthetic data the right answer is known: 200 users in 4
clusters, each cluster with its own block of 250 of the 1,000 items. A
user trained on 29 items of its block and holds out a 30th, so 221 unseen
items of its own cluster remain: a model that learns ranks the held-out
item among them (top 221 of ~970). As on MovieLens, most items are absent
from most batches, which is what makes the chapter's model collapse.
"""
import json

import mxnet as mx
import numpy
import pytest

from d2l_ncf import cli, load_chapter_data
from d2l_ncf.runs.builders import seed_everything
from d2l_ncf.runs.config import TrainConfig
from d2l_ncf.engine.scoring import score_matrix
from d2l_ncf.metrics import full_ranking_metrics
from d2l_ncf.runs.run import fit
from synthetic import make_ratings, write_udata

TOP = 250 - 29  # unseen items of the user's cluster, held-out included


@pytest.fixture(scope='module')
def clustered(tmp_path_factory):
    folder = tmp_path_factory.mktemp('clustered')
    rows = make_ratings(num_users=200, num_items=1000, num_clusters=4,
                        per_user=30, seed=0)
    return load_chapter_data(write_udata(folder, rows))


def ranked_in_top(net, data, k=TOP, ties='expected'):
    """Hit@k and AUC over all unseen items, whatever the net's protocol."""
    users = list(range(data.num_users))
    scores = score_matrix(net, data.num_users, data.num_items, [mx.cpu()])
    hits, auc, _, _ = full_ranking_metrics(scores, users, data.candidates,
                                           data.test_iter, data.num_items,
                                           k, ties)
    return hits.mean(), auc.mean()


def train_clustered(data, protocol):
    seed_everything(0)
    config = TrainConfig(protocol=protocol, devices='cpu', num_epochs=10,
                         batch_size=256, eval_step=10).validate()
    net, result = fit(config, data, [mx.cpu()])
    return net, result


def test_corrected_protocol_ranks_the_cluster_first(clustered, capsys):
    net, _ = train_clustered(clustered, 'corrected')
    hit, auc = ranked_in_top(net, clustered)
    # a perfect cluster model: AUC about 1 - 110 / 970 = 0.89
    assert hit >= 0.95 and auc >= 0.85, (hit, auc)


def test_book_protocol_learns_nothing(clustered, capsys):
    net, result = train_clustered(clustered, 'book')
    scores = score_matrix(net, clustered.num_users, clustered.num_items,
                          [mx.cpu()])
    assert (scores == 0.5).all()  # collapsed to a constant
    # ranked by item id: only cluster 0's users (a quarter) hit; AUC 0.5
    hit, auc = ranked_in_top(net, clustered, ties='id')
    assert hit == pytest.approx(0.25) and auc == pytest.approx(0.5,
                                                               abs=0.02)
    # ties in expectation: chance, k / (list length) per user, AUC 0.5
    hit, auc = ranked_in_top(net, clustered)
    lengths = [clustered.num_items - len(set(clustered.candidates[u]))
               for u in range(clustered.num_users)]
    assert hit == pytest.approx(numpy.mean([TOP / n for n in lengths]))
    assert auc == pytest.approx(0.5)
    # Its own evaluator cannot hit a test item with id >= num_users.
    beyond = [u for u, (i,) in clustered.test_iter.items()
              if i >= clustered.num_users]
    assert beyond
    assert result['hit_rate'] <= 1 - len(beyond) / clustered.num_users


@pytest.mark.parametrize('args, message', [
    (['--loss', 'log'], 'book protocol'),
    (['--num-neg', '4'], 'book protocol'),
    (['--eval', 'sampled'], 'book protocol'),
    (['--k', '10'], 'book protocol'),
    (['--protocol', 'corrected', '--reference', '--eval', 'sampled'],
     'no reference version'),
    (['--protocol', 'fixed'], 'invalid choice'),
])
def test_protocol_options_are_checked(args, message, usage_error):
    usage_error(['train'] + args, message)


@pytest.mark.parametrize('extra, line', [
    (['--k', '5'], r'test hit rate@5 [\d.]+, test AUC [\d.]+, '
                   r'test NDCG@5 [\d.]+$'),
    (['--eval', 'sampled', '--eval-negatives', '20', '--loss', 'log',
      '--num-neg', '3'], r'test hit rate@10 [\d.]+, test NDCG@10 [\d.]+$'),
    pytest.param(['--loss', 'hinge', '--reference', '--k', '5'],
                 r'test hit rate@5 [\d.]+, test AUC [\d.]+, '
                 r'test NDCG@5 [\d.]+$', marks=pytest.mark.slow),
])
def test_corrected_cli_runs(synthetic_dir, tmp_path, extra, line, capsys):
    out = tmp_path / 'run'
    code = cli.main(['train', '--protocol', 'corrected', '--data-dir',
                     synthetic_dir, '--epochs', '2', '--batch-size', '32',
                     '--devices', 'cpu:2', '--no-progress', '--out',
                     str(out)] + extra)
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()[-2]
    assert __import__('re').search(line, printed), printed
    record = json.loads((out / 'metrics.json').read_text())
    assert record['config']['protocol'] == 'corrected'
    assert all('loss' in r for r in record['history'])


def test_log_loss_hand_worked():
    # positives: logits 0 and 100 -> ln 2 + ~0; negatives: 0, -100, 0, 0
    # -> 3 ln 2 + ~0: total 4 ln 2.
    import math
    from mxnet import np
    from d2l_ncf.losses import LogLoss
    value = LogLoss()(np.array([[0.], [100.]]),
                      np.array([[0., -100.], [0., 0.]]))
    assert float(value) == pytest.approx(4 * math.log(2), rel=1e-6)
