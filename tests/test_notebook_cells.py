"""Code the notebooks define in their cells, run here on its own: the
full notebook's logit NeuMF and its exercises' noise rule, and the first
cell of each notebook, which must give advice, not a traceback, when the
notebook is opened where it cannot run."""
import csv
import math
import os
import sys

import pytest

import d2l_ncf  # noqa: F401  (before MXNet: its arithmetic)
from test_notebook import builder, code

NAMES = ['class', 'neumf', 'lab']


def cell_defining(name, text):
    """The source of the code cell of notebook NAME holding `text`."""
    [cell] = [c for c in code(builder().read_source(name))
              if text in c.source]
    return cell.source


def test_the_logit_neumf_is_the_chapters_class_without_its_sigmoid():
    """Evidence (a)'s LogitNeuMF: with the chapter's weights copied in,
    its scores are the chapter's before the sigmoid."""
    import numpy
    from mxnet import autograd, gluon, init, np, npx  # noqa: F401
    from mxnet.gluon import nn
    from d2l_ncf import chapter
    source = cell_defining('neumf', 'class LogitNeuMF(')
    namespace = {'chapter': chapter, 'nn': nn}
    exec(compile(source.split('\n\n\ndef ')[0], 'neumf.py', 'exec'),
         namespace)
    logit = namespace['LogitNeuMF'](6, 9, 13, [8, 4])
    book = chapter.NeuMF(6, 9, 13, [8, 4])
    users, items = (np.array(a)
                    for a in numpy.indices((9, 13)).reshape(2, -1))
    for net in (logit, book):
        net.initialize(init=init.Normal(0.5))
        net(users, items)
    for mine, theirs in zip(logit.collect_params().values(),
                            book.collect_params().values()):
        mine.set_data(theirs.data())
    scores = logit(users, items).asnumpy()
    assert ((scores < 0) | (scores > 1)).any()  # logits, not probabilities
    assert numpy.allclose(1 / (1 + numpy.exp(-scores)),
                          book(users, items).asnumpy(), atol=1e-6)


def write_exercise(folder, rows):
    path = folder / 'docs' / 'exercises' / 'toy'
    path.mkdir(parents=True)
    with open(path / 'exercise.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['setting', 'seeds', 'final_hit_rate',
                         'final_hit_rate_sd', 'final_auc', 'final_loss'])
        writer.writerows(rows)
    (folder / 'notebooks').mkdir()
    return folder / 'notebooks'


def test_the_exercise_verdicts_follow_the_rule_they_print(tmp_path,
                                                         monkeypatch,
                                                         capsys):
    """Hit rates 0.30 and 0.34 over 943 users: each binomial error
    sqrt(p (1 - p) / 943) is 0.0149 and 0.0154, so the noise is
    2 sqrt(0.0149^2 + 0.0154^2) = 0.043 and a gap of 0.04 is level;
    0.30 against 0.36 (noise 0.043) is above; a seed spread of 0.09 over
    3 seeds (error 0.052) widens the noise past a 0.06 gap."""
    monkeypatch.chdir(write_exercise(tmp_path, [
        ('a', 3, 0.30, 0.01, 0.8, 0.2), ('b', 3, 0.34, 0.01, 0.8, 0.2),
        ('c', 3, 0.36, 0.01, 0.8, 0.2), ('d', 3, 0.36, 0.09, 0.8, 0.2)]))
    namespace = {'os': os, 'csv': csv, 'math': math, 'num_users': 943}
    exec(cell_defining('neumf', 'def answer('), namespace)
    namespace['answer']('toy', 'a')
    verdicts = [line for line in capsys.readouterr().out.splitlines()
                if ' is ' in line]
    assert verdicts == ['b is level with a: +0.040, noise 0.043',
                        'c is above a: +0.060, noise 0.043',
                        'd is level with a: +0.060, noise 0.108']


@pytest.fixture(params=NAMES)
def first_cell(request):
    source = code(builder().read_source(request.param))[0].source
    assert 'check_environment()' in source
    return compile(source, request.param + '.py', 'exec')


def run_cell(cell, monkeypatch, tmp_path):
    """Run `cell` as a kernel started in `tmp_path` would, away from
    notebooks/ (check_env.py not on the path, nor imported yet)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'path', [p for p in sys.path if p and
                                      os.path.abspath(p) != os.getcwd()
                                      and not p.endswith('notebooks')])
    monkeypatch.delitem(sys.modules, 'check_env', raising=False)
    exec(cell, {})


def test_a_newer_python_is_told_the_quickest_way_in(first_cell,
                                                    monkeypatch, tmp_path):
    monkeypatch.setattr(sys, 'version_info', (3, 12, 1, 'final', 0))
    with pytest.raises(RuntimeError, match='MXNet 1.9 has no wheels past '
                                           'Python 3.11') as e:
        run_cell(first_cell, monkeypatch, tmp_path)
    assert 'Colab runs 3.12' in str(e.value)
    assert 'Quickest way in: the Binder badge' in str(e.value)


def test_a_notebook_away_from_its_folder_says_where_to_run(
        first_cell, monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match='check_env.py is not beside '
                                           'this notebook') as e:
        run_cell(first_cell, monkeypatch, tmp_path)
    assert 'notebooks/ folder of a clone' in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__
