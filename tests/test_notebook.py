"""The notebook: committed as the generator writes it, executed, with the
chapter's own code behaving as the package's --reference path."""
import importlib.util
import os
import re

import nbformat
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, 'notebooks', 'neumf.ipynb')
BOOK_LINE = 'train loss 16.982, test hit rate 0.075, test AUC 0.531'


def generator():
    spec = importlib.util.spec_from_file_location(
        'build_notebook', os.path.join(REPO, 'notebooks',
                                       'build_notebook.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tagged(nb, tag):
    return [c for c in nb.cells if tag in c.metadata.get('tags', [])]


def with_parameters(nb, **values):
    """Insert a cell of overrides after the cell tagged `parameters`."""
    index = nb.cells.index(tagged(nb, 'parameters')[0])
    source = '\n'.join(f'{k} = {v!r}' for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata['tags'] = ['no-output']
    nb.cells.insert(index + 1, cell)
    return nb


def outputs_text(nb):
    return '\n'.join(o.get('text', '') for c in nb.cells
                     if c.cell_type == 'code' for o in c.outputs)


def images(cells):
    return [o for c in cells if c.cell_type == 'code' for o in c.outputs
            if {'image/png', 'image/svg+xml'} & set(o.get('data', {}))]


def chapter_namespace():
    """The notebook's chapter cells, run in a fresh namespace."""
    namespace = {}
    for cell in tagged(nbformat.read(NOTEBOOK, as_version=4), 'chapter'):
        exec(compile(cell.source, 'notebook', 'exec'), namespace)
    return namespace


def test_committed_notebook_is_the_generators_output():
    committed = nbformat.read(NOTEBOOK, as_version=4)
    gen = generator()
    assert gen.sources(committed) == gen.sources(gen.build_notebook()), (
        'notebooks/neumf.ipynb is not what build_notebook.py writes today: '
        'run python notebooks/build_notebook.py --execute')


def test_committed_notebook_is_executed_on_the_real_data():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    record = nb.cells[0].source
    assert record.startswith('*Run record.* Executed'), record
    for word in ('UTC', 'mxnet 1.9.1', 'd2l 1.0.3', 'cores'):
        assert word in record
    code = [c for c in nb.cells if c.cell_type == 'code']
    silent = [c.source.splitlines()[0] for c in code
              if 'no-output' not in c.metadata.get('tags', [])
              and not c.outputs]
    assert not silent, f'cells without output: {silent}'
    assert all(c.execution_count for c in code)
    errors = [o for c in code for o in c.outputs
              if o.output_type == 'error']
    assert not errors
    text = outputs_text(nb)
    assert BOOK_LINE in text and '[cpu(0), cpu(1)]' in text
    assert ("the book's evaluator (fast_evaluate_ranking): hit rate 0.075, "
            "AUC 0.531") in text
    # the figure, both Animators, the side-by-side plot, four exercises
    assert len(images(code)) >= 8
    assert os.path.isfile(os.path.join(REPO, 'docs', 'neumf.html'))


def test_notebook_follows_the_section():
    nb = generator().build_notebook()
    headings = [line for c in nb.cells if c.cell_type == 'markdown'
                for line in c.source.splitlines() if line.startswith('## ')]
    assert headings == [
        '## The NeuMF model', '## Model implementation',
        '## A dataset with negative sampling', '## The evaluator',
        '## Training and evaluating the model',
        '## The same run, corrected', '## Evidence', '## Summary',
        '## Exercises']
    assert len(tagged(nb, 'parameters')) == 1
    chapter = [c.source for c in tagged(nb, 'chapter')]
    for name in ('class NeuMF(nn.Block)', 'class PRDataset',
                 'def hit_and_auc', 'def evaluate_ranking',
                 'def train_ranking'):
        assert sum(s.startswith(name) for s in chapter) == 1, name
    text = '\n'.join(chapter)
    for n in range(1, 7):
        assert f'Erratum {n}' in text
    # the chapter's lines, as printed
    for line in ('all_items = set([i for i in range(num_users)])',
                 'l += sum([l.asnumpy() for l in ls]).mean()/len(devices)',
                 "self.prediction_layer = nn.Dense(1, activation='sigmoid',"
                 " use_bias=False)",
                 'temp = hit_and_auc(ranked_items[u], test_input[u], 50)'):
        assert line in text


@pytest.mark.notebook
def test_notebook_runs(synthetic_dir, tmp_path):
    from nbclient import NotebookClient
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.outputs, cell.execution_count = [], None
    nb = with_parameters(nb, num_epochs=2, batch_size=32,
                         data_dir=synthetic_dir, probe_batches=(1, 3),
                         exercise_epochs=1, k=10)
    NotebookClient(nb, timeout=900, kernel_name='python3',
                   resources={'metadata': {'path': str(tmp_path)}}).execute()
    nbformat.write(nb, str(tmp_path / 'executed.ipynb'))
    code = [c for c in nb.cells if c.cell_type == 'code']
    silent = [c.source.splitlines()[0] for c in code
              if 'no-output' not in c.metadata.get('tags', [])
              and not c.outputs]
    assert not silent
    text = outputs_text(nb)
    assert re.search(r'train loss [\d.]+, test hit rate [\d.]+, test AUC',
                     text)
    # k 10: on the 40-item synthetic data k 50 would rank every unseen
    # item, a certain hit that the evaluator refuses
    assert 'test hit rate@10' in text
    assert "the book's evaluator (fast_evaluate_ranking): hit rate" in text
    assert 'ln 2 (K + 1) / (2 D)' in text
    assert len(images(code)) >= 8


@pytest.mark.slow
def test_chapter_code_is_the_reference_path(synthetic_dir, capsys):
    """The notebook's definitions and `d2l-ncf train --reference --protocol
    book` print the same line and evaluate the same every epoch."""
    from mxnet import gluon
    import mxnet as mx
    import d2l_ncf as ncf
    from d2l_ncf.runs.config import TrainConfig
    from d2l_ncf.evaluation import RankingEvaluator
    from d2l_ncf.runs.run import train
    ns = chapter_namespace()
    data = ncf.load_chapter_data(synthetic_dir)
    devices = ncf.parse_devices('cpu:2')
    evaluations = []

    def evaluator(*args):
        evaluations.append(ns['evaluate_ranking'](*args))
        return evaluations[-1]
    train_iter = gluon.data.DataLoader(
        ns['PRDataset'](data.users_train, data.items_train, data.candidates,
                        data.num_items), 32, True, last_batch='rollover')
    ncf.seed_everything(0)
    net = ns['NeuMF'](10, data.num_users, data.num_items,
                      nums_hiddens=[10, 10, 10])
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01, 'wd': 1e-5})
    capsys.readouterr()
    ns['train_ranking'](net, train_iter, data.test_iter, ns['d2l'].BPRLoss(),
                        trainer, None, data.num_users, data.num_items, 3,
                        devices, evaluator, data.candidates)
    # d2l's Animator also prints its figure (as text outside a notebook)
    mine = [line for line in capsys.readouterr().out.splitlines()
            if 'train loss' in line or 'examples/sec' in line]
    record = train(TrainConfig(reference=True, protocol='book',
                               devices='cpu:2', batch_size=32, num_epochs=3,
                               data_dir=synthetic_dir), progress=False)
    theirs = capsys.readouterr().out.splitlines()
    assert mine[0] == theirs[0]
    assert mine[1].endswith('examples/sec on [cpu(0), cpu(1)]')
    assert [(float(h), float(a)) for h, a in evaluations] == [
        (r['hit_rate'], r['auc']) for r in record['history']]
    # and the fast evaluator the notebook trains with agrees with it
    fast = RankingEvaluator('book')(net, data.test_iter, None,
                                    data.candidates, data.num_users,
                                    data.num_items, devices)
    hit, auc = ns['evaluate_ranking'](net, data.test_iter, None,
                                      data.candidates, data.num_users,
                                      data.num_items, devices)
    assert (fast['hit_rate'], fast['auc']) == pytest.approx(
        (float(hit), float(auc)), abs=1e-6)  # theirs: float32 mean


@pytest.mark.slow
def test_chapter_code_prints_the_books_line(real_data_dir, capsys):
    """The notebook's own NeuMF, PRDataset and train_ranking, on the real
    ML-100K and two CPU contexts, print the book's line."""
    from mxnet import gluon
    import mxnet as mx
    import d2l_ncf as ncf
    from d2l_ncf.evaluation import RankingEvaluator
    ns = chapter_namespace()
    data = ncf.load_chapter_data(real_data_dir)
    devices = ncf.parse_devices('cpu:2')
    fast = RankingEvaluator('book')

    def evaluator(*args):
        result = fast(*args)
        return result['hit_rate'], result['auc']
    train_iter = gluon.data.DataLoader(
        ns['PRDataset'](data.users_train, data.items_train, data.candidates,
                        data.num_items), 1024, True, last_batch='rollover')
    ncf.seed_everything(0)
    net = ns['NeuMF'](10, data.num_users, data.num_items,
                      nums_hiddens=[10, 10, 10])
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01, 'wd': 1e-5})
    capsys.readouterr()
    ns['train_ranking'](net, train_iter, data.test_iter, ns['d2l'].BPRLoss(),
                        trainer, None, data.num_users, data.num_items, 10,
                        devices, evaluator, data.candidates)
    printed = capsys.readouterr().out.splitlines()
    assert BOOK_LINE in printed
