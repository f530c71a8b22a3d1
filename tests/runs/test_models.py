"""One contract for every model `builders.build` makes (benfred/implicit's
habit): on clustered data whose answer is known, a model trained through
the package's one path (`build` + `run.fit`, as train, exercise and
ablation run it) ranks the held-out item of each user's cluster above
chance; popularity, which learns nothing, gives its known answer."""
import numpy
import pytest

from d2l_ncf import load_dataset
from d2l_ncf.runs.ablation import train_model
from d2l_ncf.runs.builders import build, seed_everything
from d2l_ncf.runs.config import MODELS, TrainConfig
from synthetic import make_ratings, write_udata

# 96 users in 4 clusters, each owning 24 of the 96 items; a user rated 12
# of its cluster's items, its latest held out. The held-out item is one
# of the 13 unseen items of its cluster among the 85 a user has not
# trained on: chance is Hit@10 = 10 / 85 = 0.12 and AUC = 0.5, a model
# that learned the clusters ranks it above the 72 items of the other
# clusters (AUC near 0.85 at best, Hit@10 near 10 / 13).
K, CHANCE_HIT = 10, 10 / 85
SETTINGS = dict(protocol='corrected', devices='cpu', num_epochs=3,
                batch_size=32, lr=0.02, init_sigma=0.1, wd=0.0, k=K)


@pytest.fixture(scope='module')
def clustered(tmp_path_factory):
    folder = tmp_path_factory.mktemp('clustered')
    return load_dataset('ml-100k', data_dir=write_udata(
        folder / 'u', make_ratings(num_users=96, num_items=96,
                                   num_clusters=4, per_user=12)))


@pytest.fixture(scope='module')
def trained(clustered):
    """Each trained model's (net, result), in `MODELS` order, so neumf-pre
    starts from the gmf and mlp trained here."""
    import mxnet as mx
    nets, results = {}, {}
    for model in MODELS:
        if model == 'popularity':
            continue
        config = TrainConfig(model=model, **SETTINGS)
        nets[model], results[model] = train_model(
            model, config, clustered, [mx.cpu()], nets)
    return results


@pytest.mark.parametrize('model', [m for m in MODELS if m != 'popularity'])
def test_every_model_learns_the_clusters(model, trained):
    result = trained[model]
    assert result['auc'] > 0.75, result
    assert result['hit_rate'] > 3 * CHANCE_HIT, result
    assert len(result['history']) == SETTINGS['num_epochs']


def test_popularity_scores_the_training_counts(clustered):
    # its known answer: every user gets each item's training count
    import mxnet as mx
    config = TrainConfig(model='popularity', **SETTINGS)
    seed_everything(0)
    setup = build(config, clustered, [mx.cpu()])
    assert setup.trainer is None  # nothing to train
    items = numpy.arange(clustered.num_items)
    scores = setup.net(mx.np.array(numpy.zeros_like(items)),
                       mx.np.array(items)).asnumpy().ravel()
    numpy.testing.assert_array_equal(scores, numpy.bincount(
        clustered.items_train, minlength=clustered.num_items))
    from d2l_ncf.runs.builders import build_evaluator
    metrics = build_evaluator(config)(
        setup.net, clustered.test_iter, None, clustered.candidates,
        clustered.num_users, clustered.num_items, [mx.cpu()])
    # the clusters' items are rated about equally often: no better than
    # chance, whatever the cluster
    assert metrics['auc'] < 0.65


def test_every_model_name_is_built(clustered):
    import mxnet as mx
    for model in MODELS:
        setup = build(TrainConfig(model=model, **SETTINGS), clustered,
                      [mx.cpu()])
        scores = setup.net(mx.np.array([0, 1]), mx.np.array([2, 3]))
        assert scores.shape == (2, 1), model
