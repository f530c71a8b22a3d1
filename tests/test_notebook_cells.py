"""Code the notebooks define in their cells, run here on its own: the
chapter's loop with its bookkeeping fixed (notebooks/neumf.py), and the
first cell of each notebook, which must give advice, not a traceback
from elsewhere, when the notebook is opened where it cannot run."""
import difflib
import inspect
import os
import sys

import pytest

import d2l_ncf as ncf
from test_notebook import builder, code

FIXED = 'def train_ranking_fixed('


def cell_defining(name, text):
    """The source of the code cell of notebooks/NAME.py holding `text`."""
    [cell] = [c for c in code(builder().read_source(name))
              if text in c.source]
    return cell.source


def fixed_loop():
    """train_ranking_fixed, as the notebook's cell defines it."""
    import mxnet  # noqa: F401  (after d2l_ncf: its arithmetic)
    from d2l import mxnet as d2l
    from mxnet import autograd, gluon
    namespace = {'d2l': d2l, 'gluon': gluon, 'autograd': autograd}
    exec(compile(cell_defining('neumf', FIXED), 'neumf.py', 'exec'),
         namespace)
    return namespace['train_ranking_fixed']


def test_the_fixed_loop_changes_only_the_marked_lines():
    """Beside the name, three lines: the timer restarted per batch, the
    batch's own summed loss, and a return (ours, for the check)."""
    from d2l import mxnet as d2l
    source = cell_defining('neumf', FIXED)
    chapter = inspect.getsource(d2l.train_ranking)
    body = lambda text: text.split('):\n', 1)[1].splitlines()  # noqa: E731
    diff = [line for line in difflib.ndiff(body(chapter), body(source))
            if line[:1] in '+-']
    assert [line[0] + ' ' + line[2:].split('#')[0].strip()
            for line in diff] == [
        '+ timer.start()',
        '- l += sum([l.asnumpy() for l in ls]).mean()/len(devices)',
        '+ l = float(sum([l.asnumpy() for l in ls]).sum())',
        '+ return metric[0] / metric[1], float(hit_rate), float(auc)']
    assert 'erratum 2' in source and 'erratum 3' in source


def test_the_fixed_loop_gives_the_packages_figures(synthetic_dir,
                                                     capsys):
    """Five epochs from the same seed: the notebook's copy and
    ncf.train_ranking(protocol='corrected') agree, loss to float
    rounding, hit rate and AUC exactly."""
    train_ranking_fixed = fixed_loop()
    data = ncf.load_chapter_data(str(synthetic_dir))
    devices = ncf.parse_devices('cpu:2')
    config = ncf.TrainConfig(protocol='corrected', num_epochs=5,
                             batch_size=16, k=10, lr=0.05)

    def as_chapter(evaluator):
        return lambda *args: tuple(float(evaluator(*args)[m])
                                   for m in ('hit_rate', 'auc'))

    def parts():
        ncf.seed_everything(config.seed)
        return ncf.build(config, data, devices)

    args = (data.test_iter, None, data.num_users, data.num_items, 5,
            devices)
    p = parts()
    fixed = train_ranking_fixed(
        p.net, p.train_iter, args[0], p.loss, p.trainer, *args[1:],
        as_chapter(p.evaluator), data.candidates)
    p = parts()
    package = ncf.train_ranking(
        p.net, p.train_iter, args[0], p.loss, p.trainer, *args[1:],
        p.evaluator, data.candidates, protocol=p.protocol)
    assert fixed[0] == pytest.approx(package['loss'], rel=1e-6)
    assert fixed[1:] == (package['hit_rate'], package['auc'])
    [line, _] = [line for line in capsys.readouterr().out.splitlines()
                 if line.startswith('train loss ')]
    assert line.startswith(f'train loss {package["loss"]:.3f}, ')
    assert package['loss'] < 0.6 and package['auc'] > 0.6  # it learned


@pytest.fixture(params=['neumf', 'lab'])
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


def test_a_newer_python_is_told_before_any_import(first_cell, monkeypatch,
                                                   tmp_path):
    monkeypatch.setattr(sys, 'version_info', (3, 12, 1, 'final', 0))
    with pytest.raises(RuntimeError, match='needs Python 3.8 to 3.11') as e:
        run_cell(first_cell, monkeypatch, tmp_path)
    assert 'Colab runs 3.12' in str(e.value)
    assert 'binder/, conda, pyenv or uv' in str(e.value)


def test_a_notebook_away_from_its_folder_says_where_to_run(
        first_cell, monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match='check_env.py is not beside '
                                           'this notebook') as e:
        run_cell(first_cell, monkeypatch, tmp_path)
    assert 'notebooks/ folder of a clone' in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__
