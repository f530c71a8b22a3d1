"""Code the notebooks define in their cells, run here on its own: the
section's NeuMF class, the chapter's evaluator and loop with their
errata fixed (notebooks/neumf.py), and the first cell of each notebook, which must give advice, not a traceback
from elsewhere, when the notebook is opened where it cannot run."""
import difflib
import inspect
import os
import sys

import pytest

import d2l_ncf as ncf
from test_notebook import builder, code

FIXED = 'def train_ranking_fixed('
EVAL_FIXED = 'def evaluate_ranking_fixed('
CHAPTER_CLASS = 'class ChapterNeuMF('
SECTION = os.path.join(os.path.dirname(__file__), '..', '..', 'shared',
                       'chapter', 'neumf-section.txt')


def cell_defining(name, text):
    """The source of the code cell of notebooks/NAME.py holding `text`."""
    [cell] = [c for c in code(builder().read_source(name))
              if text in c.source]
    return cell.source


def fixed_loop():
    """train_ranking_fixed, as the notebook's cell defines it."""
    return cell_namespace(FIXED)['train_ranking_fixed']


def cell_namespace(text):
    """The names the notebook's cell holding `text` defines, run with
    the notebook's imports (d2l_ncf first: its arithmetic)."""
    import mxnet  # noqa: F401
    from d2l import mxnet as d2l
    from mxnet import autograd, gluon, np
    from mxnet.gluon import nn
    namespace = {'d2l': d2l, 'gluon': gluon, 'autograd': autograd,
                 'np': np, 'nn': nn, 'hit_and_auc': ncf.hit_and_auc}
    exec(compile(cell_defining('neumf', text), 'neumf.py', 'exec'),
         namespace)
    return namespace


def section_class():
    """The section's NeuMF class as printed: from its line to the blank
    line after `forward`."""
    if not os.path.isfile(SECTION):
        if os.environ.get('CI'):
            pytest.fail(f'{SECTION} is missing: CI has ../shared beside '
                        f'the clone')
        pytest.skip(f'the section text is not at {SECTION}')
    with open(SECTION, encoding='utf-8') as f:
        text = f.read()
    start = text.index('class NeuMF(nn.Block):')
    return text[start:text.index('\n\n', text.index('def forward',
                                                     start))]


def test_the_notebooks_neumf_is_the_sections_class():
    """The same tokens as the section's, but for the name and the two
    lines the printed page cuts off (whitespace aside: one long line is
    wrapped)."""
    ours = cell_defining('neumf', CHAPTER_CLASS)
    squeeze = lambda t: ''.join(t.split())  # noqa: E731
    completed = squeeze(ours).replace('ChapterNeuMF', 'NeuMF')
    for cut in ('**kwargs):', 'use_bias=True))'):
        assert completed.count(cut) == 1
        completed = completed.replace(cut, '')
    assert completed == squeeze(section_class())


@pytest.mark.parametrize('hiddens', [[10, 10, 10], [8], [16, 4]])
def test_the_sections_class_scores_as_the_packages(hiddens):
    """Weights copied from ncf.NeuMF into the section's class: every
    pair of a small catalogue scores exactly alike."""
    import numpy
    from mxnet import init, np
    chapter_neumf = cell_namespace(CHAPTER_CLASS)['ChapterNeuMF']
    ncf.seed_everything(3)
    ours = ncf.NeuMF(6, 9, 13, nums_hiddens=hiddens)
    theirs = chapter_neumf(6, 9, 13, nums_hiddens=hiddens)
    users, items = (np.array(a)
                    for a in numpy.indices((9, 13)).reshape(2, -1))
    for block in (ours, theirs):
        block.initialize(init=init.Normal(0.5))
        block(users, items)
    pairs = list(zip(ours.collect_params().values(),
                     theirs.collect_params().values()))
    assert len(pairs) == 5 + 2 * len(hiddens)
    for mine, chapter in pairs:
        assert mine.shape == chapter.shape
        chapter.set_data(mine.data())
    scores = ours(users, items).asnumpy()
    assert scores.std() > 1e-3  # distinct scores, not a constant
    assert (scores == theirs(users, items).asnumpy()).all()


def test_the_fixed_evaluator_changes_only_the_marked_lines():
    """Against d2l's: the signature takes k, the list holds every item
    (erratum 1), and the cut-off is k (erratum 5)."""
    from d2l import mxnet as d2l
    source = cell_defining('neumf', EVAL_FIXED)
    diff = [line[0] + ' ' + line[2:].split('#')[0].strip()
            for line in difflib.ndiff(
                inspect.getsource(d2l.evaluate_ranking).splitlines(),
                source.strip().splitlines())
            if line[:1] in '+-']
    assert diff == [
        '- def evaluate_ranking(net, test_input, seq, candidates, '
        'num_users, num_items,',
        '+ def evaluate_ranking_fixed(net, test_input, seq, candidates, '
        'num_users,',
        '- devices):',
        '+ num_items, devices, k=50):',
        '- all_items = set([i for i in range(num_users)])',
        '+ all_items = set([i for i in range(num_items)])',
        '- temp = hit_and_auc(ranked_items[u], test_input[u], 50)',
        '+ temp = hit_and_auc(ranked_items[u], test_input[u], k)']
    assert 'erratum 1' in source and 'erratum 5' in source


@pytest.mark.parametrize('users', [None, 7])
def test_the_fixed_evaluator_gives_the_corrected_figures(synthetic_dir,
                                                        users):
    """A fresh NeuMF (distinct scores): the copy, on every user or on
    the first few (num_users cut), equals the fast corrected evaluator
    on the same users, and ranks items the book protocol never does."""
    from mxnet import init
    evaluate_ranking_fixed = cell_namespace(EVAL_FIXED)[
        'evaluate_ranking_fixed']
    data = ncf.load_chapter_data(str(synthetic_dir))
    assert data.num_items > data.num_users
    devices = ncf.parse_devices('cpu:2')
    ncf.seed_everything(0)
    net = ncf.NeuMF(10, data.num_users, data.num_items, [10, 10, 10])
    net.initialize(ctx=devices, init=init.Normal(0.5))  # no ties
    n = users or data.num_users
    few = {u: data.test_iter[u] for u in range(n)}
    fast = {}
    for protocol, k in (('corrected', 5), ('book', 50)):
        config = ncf.TrainConfig(protocol=protocol, k=k)
        fast[protocol] = ncf.build(config, data, devices).evaluator(
            net, few, None, data.candidates, data.num_users,
            data.num_items, devices)
    hit, auc = evaluate_ranking_fixed(
        net, data.test_iter, None, data.candidates, n, data.num_items,
        devices, k=5)
    assert float(hit) == pytest.approx(fast['corrected']['hit_rate'],
                                       abs=1e-6)
    assert float(auc) == pytest.approx(fast['corrected']['auc'],
                                       abs=1e-6)
    assert abs(float(auc) - fast['book']['auc']) > 1e-3


def test_the_fixed_loop_changes_only_the_marked_lines():
    """Beside the name, four lines: the timer started with each epoch
    and restarted after each batch, as the package's corrected loop
    does; the batch's own summed loss; and a return (ours, for the
    check)."""
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
        '+ timer.start()',
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
