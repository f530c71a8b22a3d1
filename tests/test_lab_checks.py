"""The lab's check cells (notebooks/lab_checks.py) on right and wrong
answers: a right part is called right, and each common slip is called
wrong with the likely mistake in words (issue 33, item 5)."""
import os
import sys

import numpy
import pytest

import d2l_ncf  # noqa: F401  (before MXNet: its arithmetic)
from mxnet import np, npx
from mxnet.gluon import nn

NOTEBOOKS = os.path.join(os.path.dirname(__file__), '..', 'notebooks')


@pytest.fixture
def lab_checks(monkeypatch):
    npx.set_np()  # as the lab's setup cell does
    monkeypatch.syspath_prepend(os.path.abspath(NOTEBOOKS))
    monkeypatch.delitem(sys.modules, 'lab_checks', raising=False)
    import lab_checks
    return lab_checks


def gmf(activation=None, join='multiply', use_output=True):
    class GMF(nn.Block):
        def __init__(self, num_factors, num_users, num_items, **kwargs):
            super().__init__(**kwargs)
            self.P = nn.Embedding(num_users, num_factors)
            self.Q = nn.Embedding(num_items, num_factors)
            self.prediction_layer = nn.Dense(1, use_bias=False,
                                             activation=activation)

        def forward(self, user_id, item_id):
            p, q = self.P(user_id), self.Q(item_id)
            x = (p * q if join == 'multiply'
                 else np.concatenate([p, q], axis=1))
            if not use_output:
                return x.sum(axis=1, keepdims=True)
            return self.prediction_layer(x)
    return GMF


def mlp(activation='relu', join='concatenate'):
    class MLP(nn.Block):
        def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                     **kwargs):
            super().__init__(**kwargs)
            self.U = nn.Embedding(num_users, num_factors)
            self.V = nn.Embedding(num_items, num_factors)
            self.mlp = nn.Sequential()
            for num_hiddens in nums_hiddens:
                self.mlp.add(nn.Dense(num_hiddens, activation=activation))
            self.prediction_layer = nn.Dense(1, use_bias=False)

        def forward(self, user_id, item_id):
            u, v = self.U(user_id), self.V(item_id)
            z = (np.concatenate([u, v], axis=1) if join == 'concatenate'
                 else u * v)
            return self.prediction_layer(self.mlp(z))
    return MLP


def neumf(order='gmf first'):
    class NeuMF(nn.Block):
        def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                     **kwargs):
            super().__init__(**kwargs)
            self.P = nn.Embedding(num_users, num_factors)
            self.Q = nn.Embedding(num_items, num_factors)
            self.U = nn.Embedding(num_users, num_factors)
            self.V = nn.Embedding(num_items, num_factors)
            self.mlp = nn.Sequential()
            for num_hiddens in nums_hiddens:
                self.mlp.add(nn.Dense(num_hiddens, activation='relu'))
            self.prediction_layer = nn.Dense(1, use_bias=False)

        def forward(self, user_id, item_id):
            x = self.P(user_id) * self.Q(item_id)
            z = self.mlp(np.concatenate([self.U(user_id), self.V(item_id)],
                                        axis=1))
            both = [x, z] if order == 'gmf first' else [z, x]
            return self.prediction_layer(np.concatenate(both, axis=1))
    return NeuMF


def from_parts(alpha_used=True, share=False):
    NeuMF = neumf()

    def fuse(gmf, mlp, alpha=0.5):
        net = NeuMF(gmf.P.weight.shape[1], gmf.P.weight.shape[0],
                    gmf.Q.weight.shape[0],
                    [layer.weight.shape[0] for layer in mlp.mlp])
        net.initialize()
        net(np.array([0]), np.array([0]))
        a = alpha if alpha_used else 1.0
        b = (1 - alpha) if alpha_used else 1.0
        for name, part in (('P', gmf), ('Q', gmf), ('U', mlp), ('V', mlp)):
            if share:
                setattr(net, name, getattr(part, name))
            else:
                getattr(net, name).weight.set_data(
                    getattr(part, name).weight.data().copy())
        for mine, theirs in zip(net.mlp, mlp.mlp):
            mine.weight.set_data(theirs.weight.data().copy())
            mine.bias.set_data(theirs.bias.data().copy())
        net.prediction_layer.weight.set_data(np.concatenate(
            [a * gmf.prediction_layer.weight.data(),
             b * mlp.prediction_layer.weight.data()], axis=1))
        return net
    return fuse


def bpr(positive, negative):
    return -np.log(npx.sigmoid(positive - negative))


def hit_and_auc(ties='expectation', kind='any'):
    def metric(scores, test, ell):
        if kind == 'list':
            scores = [float(s) for s in scores]  # fine
            if isinstance(scores, numpy.ndarray):
                raise AssertionError
        if kind == 'array-only':
            scores = scores.astype(float)  # a list has no astype
        scores = numpy.asarray(scores, dtype=float)
        above = int((scores > scores[test]).sum())
        tied = int((scores == scores[test]).sum()) - 1
        if ties == 'below':
            tied = 0
        elif ties == 'above':
            above, tied = above + tied, 0
        ranks = numpy.arange(above + 1, above + tied + 2)
        n = len(scores)
        return (float(numpy.mean(ranks <= ell)),
                float(numpy.mean((n - ranks) / (n - 1))))
    return metric


def verdict(check, capsys, *args):
    check(*args)
    [line] = capsys.readouterr().out.splitlines()
    return line


def test_right_answers_are_right(lab_checks, capsys):
    assert verdict(lab_checks.check_gmf, capsys, gmf()) == 'GMF: right.'
    assert verdict(lab_checks.check_mlp, capsys, mlp()) == 'MLP: right.'
    assert verdict(lab_checks.check_neumf, capsys,
                   neumf()) == 'NeuMF: right.'
    assert verdict(lab_checks.check_from_parts, capsys, from_parts(),
                   gmf(), mlp()) == 'from_parts: right.'
    assert verdict(lab_checks.check_bpr, capsys, bpr) == 'bpr: right.'
    assert verdict(lab_checks.check_hit_and_auc, capsys,
                   hit_and_auc()) == 'hit_and_auc: right.'


@pytest.mark.parametrize('check', ['check_bpr', 'check_hit_and_auc',
                                   'check_gmf', 'check_neumf'])
def test_a_todo_not_done_says_so(lab_checks, capsys, check):
    def todo(*args, **kwargs):
        raise NotImplementedError('fill this in: the BPR loss')
    line = verdict(getattr(lab_checks, check), capsys, todo)
    assert ': not filled in yet' in line


def test_an_unused_output_layer_is_named_not_deferred_init(lab_checks,
                                                           capsys):
    line = verdict(lab_checks.check_gmf, capsys, gmf(use_output=False))
    assert line.startswith('GMF: not right yet: prediction_layer was '
                           'created but never used in forward')
    assert 'DeferredInitializationError: ' not in line.split('(')[0]


def test_concatenating_in_gmf_is_told_to_multiply(lab_checks, capsys):
    line = verdict(lab_checks.check_gmf, capsys, gmf(join='concatenate'))
    assert 'you concatenated p_u and q_i' in line
    assert 'multiplies them element by element' in line
    assert 'matmul' not in line.lower() and 'shape' not in line


def test_multiplying_in_the_mlp_is_told_to_concatenate(lab_checks, capsys):
    line = verdict(lab_checks.check_mlp, capsys, mlp(join='multiply'))
    assert 'the MLP concatenates U_u and V_i' in line


@pytest.mark.parametrize('check, model', [('check_gmf', gmf('sigmoid')),
                                          ('check_mlp', None)])
def test_a_sigmoid_on_the_output_is_named(lab_checks, capsys, check,
                                          model):
    if model is None:  # the MLP with a sigmoid after its prediction layer
        base = mlp()

        class model(base):
            def forward(self, user_id, item_id):
                return 1 / (1 + np.exp(-super().forward(user_id, item_id)))
    line = verdict(getattr(lab_checks, check), capsys, model)
    assert 'not right yet' in line
    assert 'sigmoid of the right ones' in line


def test_an_mlp_without_relu_is_told_so(lab_checks, capsys):
    line = verdict(lab_checks.check_mlp, capsys, mlp(activation=None))
    assert line.startswith('MLP: not right yet: ')
    assert 'needs a ReLU' in line


def test_neumf_with_the_halves_swapped(lab_checks, capsys):
    line = verdict(lab_checks.check_neumf, capsys, neumf(order='mlp first'))
    assert "GMF's vector comes first" in line


def test_from_parts_without_alpha_or_sharing_parameters(lab_checks,
                                                         capsys):
    line = verdict(lab_checks.check_from_parts, capsys,
                   from_parts(alpha_used=False), gmf(), mlp())
    assert 'alpha is not applied' in line
    line = verdict(lab_checks.check_from_parts, capsys,
                   from_parts(share=True), gmf(), mlp())
    assert 'copy the values' in line


def test_bpr_slips(lab_checks, capsys):
    line = verdict(lab_checks.check_bpr, capsys,
                   lambda p, n: bpr(n, p))
    assert 'the sign is reversed' in line
    line = verdict(lab_checks.check_bpr, capsys,
                   lambda p, n: -bpr(p, n))
    assert 'the minus is missing' in line
    line = verdict(lab_checks.check_bpr, capsys,
                   lambda p, n: bpr(p, n).sum())
    assert 'one loss per triple' in line


@pytest.mark.parametrize('ties, words', [
    ('below', 'the tied items count as below the test item'),
    ('above', 'the tied items count as above the test item')])
def test_ties_not_in_expectation_are_named(lab_checks, capsys, ties,
                                           words):
    line = verdict(lab_checks.check_hit_and_auc, capsys,
                   hit_and_auc(ties=ties))
    assert words in line


def test_a_metric_for_arrays_only_is_told_about_lists(lab_checks, capsys):
    line = verdict(lab_checks.check_hit_and_auc, capsys,
                   hit_and_auc(kind='array-only'))
    assert 'with the scores as a list it raised' in line
    assert 'must take a list and a NumPy array' in line


def test_the_reference_evaluator_counts_ties_in_expectation(lab_checks):
    """A constant scorer on a 2-user, 5-item toy: every list ties, so
    Hit@2 is 2/N and AUC 1/2 for each user (worked by hand)."""
    class Data:
        num_users, num_items = 2, 5
        candidates = {0: [0], 1: [1, 2]}   # lists of 4 and 3 items
        test_iter = {0: [3], 1: [4]}

    class Constant(nn.Block):
        def forward(self, user_id, item_id):
            return np.zeros((len(user_id), 1))
    got = lab_checks.evaluate(Constant(), Data(), 2)
    assert got['hit_rate'] == pytest.approx((2 / 4 + 2 / 3) / 2)
    assert got['auc'] == pytest.approx(0.5)
