"""The lab's check cells (notebooks/lab_checks.py) on right and wrong
answers: a right part is called right, and a common slip is called
wrong with a reason a student can act on."""
import os
import sys

import pytest

import d2l_ncf  # noqa: F401  (before MXNet: its arithmetic)
from mxnet import np
from mxnet.gluon import nn

NOTEBOOKS = os.path.join(os.path.dirname(__file__), '..', 'notebooks')


@pytest.fixture
def lab_checks(monkeypatch):
    from mxnet import npx
    npx.set_np()  # as the lab's setup cell does
    monkeypatch.syspath_prepend(os.path.abspath(NOTEBOOKS))
    monkeypatch.delitem(sys.modules, 'lab_checks', raising=False)
    import lab_checks
    return lab_checks


def gmf(activation=None):
    class GMF(nn.Block):
        def __init__(self, num_factors, num_users, num_items, **kwargs):
            super().__init__(**kwargs)
            self.P = nn.Embedding(num_users, num_factors)
            self.Q = nn.Embedding(num_items, num_factors)
            self.prediction_layer = nn.Dense(1, use_bias=False,
                                             activation=activation)

        def forward(self, user_id, item_id):
            return self.prediction_layer(self.P(user_id) * self.Q(item_id))
    return GMF


def mlp(activation='relu'):
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
            return self.prediction_layer(self.mlp(np.concatenate(
                [self.U(user_id), self.V(item_id)], axis=1)))
    return MLP


def verdict(check, capsys, *args):
    check(*args)
    [line] = capsys.readouterr().out.splitlines()
    return line


def test_a_right_gmf_and_mlp_are_right(lab_checks, capsys):
    assert verdict(lab_checks.check_gmf, capsys, gmf()) == 'GMF: right.'
    assert verdict(lab_checks.check_mlp, capsys, mlp()) == 'MLP: right.'


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
    assert "activation='relu'" in line


def test_a_wrong_answer_without_a_known_slip_says_only_what_differs(
        lab_checks, capsys):
    class Swapped(gmf()):  # the item's row for the user and back
        def forward(self, user_id, item_id):
            return self.prediction_layer(self.P(item_id % 3)
                                         * self.Q(user_id))
    line = verdict(lab_checks.check_gmf, capsys, Swapped)
    assert line.startswith('GMF: not right yet: scores ')
    assert 'sigmoid' not in line and 'relu' not in line
