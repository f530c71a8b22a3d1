"""The class notebook and the full notebook: each one source
(notebooks/NAME.py), committed executed on the real data; the numbers
they record, their figures and legends, no warning in any output; and
notebooks/build.py, which makes them."""
import importlib.util
import inspect
import os
import re

import nbformat
import pytest

from d2l_ncf import chapter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(REPO, 'notebooks')
BOOK_LINE = 'train loss 16.982, test hit rate 0.075, test AUC 0.531'
CHAPTER_NAMES = ('NeuMF', 'PRDataset', 'hit_and_auc', 'evaluate_ranking',
                 'train_ranking')
# seconds on 2 cores, scaled down by the load per core when above 1
BUDGETS = {'class': 180, 'neumf': 300}


def builder():
    """notebooks/build.py as a module."""
    spec = importlib.util.spec_from_file_location(
        'build', os.path.join(NOTEBOOKS, 'build.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed(name):
    return nbformat.read(os.path.join(NOTEBOOKS, name + '.ipynb'),
                         as_version=4)


def tagged(nb, tag):
    return [c for c in nb.cells if tag in c.metadata.get('tags', [])]


def sources(nb):
    return [(c.cell_type, c.source) for c in nb.cells]


def code(nb):
    return [c for c in nb.cells if c.cell_type == 'code']


def outputs_text(cells):
    return '\n'.join(o.get('text', '') or o.get('data', {}).get(
        'text/plain', '') for c in cells if c.cell_type == 'code'
        for o in c.outputs)


def images(cells):
    return [o for c in cells if c.cell_type == 'code' for o in c.outputs
            if {'image/png', 'image/svg+xml'} & set(o.get('data', {}))]


def errors(cells):
    return [(c.source.splitlines()[0], o.ename, o.evalue)
            for c in cells if c.cell_type == 'code' for o in c.outputs
            if o.output_type == 'error']


def silent(cells):
    """First lines of code cells that should show something and don't."""
    return [c.source.splitlines()[0] for c in cells
            if c.cell_type == 'code' and not c.outputs
            and 'no-output' not in c.metadata.get('tags', [])]


def warnings_in(cells):
    """Output lines that are warnings (Python's, matplotlib's, MXNet's)."""
    pattern = re.compile(r'\b\w*Warning\b|\bWARNING\b|^\[\d\d:\d\d:\d\d\]',
                         re.M)
    return [line for line in outputs_text(cells).splitlines()
            if pattern.search(line)] + [
        o.get('text', '') for c in cells if c.cell_type == 'code'
        for o in c.outputs if o.get('name') == 'stderr'
        and pattern.search(o.get('text', ''))]


def with_parameters(nb, **values):
    """Insert a cell of overrides after the cell tagged `parameters`."""
    index = nb.cells.index(tagged(nb, 'parameters')[0])
    cell = nbformat.v4.new_code_cell(
        '\n'.join(f'{k} = {v!r}' for k, v in values.items()))
    cell.metadata['tags'] = ['no-output', 'injected']
    nb.cells.insert(index + 1, cell)
    return nb


def run(nb, data_dir, monkeypatch, allow_errors=False):
    """Execute `nb` as notebooks/build.py does, on the data in
    `data_dir` (through $D2L_NCF_DATA_DIR, as a user sets it)."""
    from nbclient import NotebookClient
    monkeypatch.setenv('D2L_NCF_DATA_DIR', str(data_dir))
    NotebookClient(nb, timeout=900, kernel_name='python3',
                   allow_errors=allow_errors,
                   resources={'metadata': {'path': NOTEBOOKS}}).execute()
    return nb


def within_budget(nb, budget):
    """The recorded execution time, allowing for a loaded machine: the
    seconds scaled down by the load per core when above 1."""
    record = nb.metadata['execution']
    load = max(record['load_before'], record['load_after'])
    share = max(1.0, load / record['cores'])
    return record['seconds'] / share <= budget, record


# ------------------------------------------------------------- figures
FIGURE_WORDS = re.compile(r'\b(curves?|plots?|figures?|drawing|side by '
                          r'side, epoch by epoch)\b', re.I)


def figure_cells(nb):
    """Indices of the code cells that draw a figure (an image output)."""
    return [n for n, c in enumerate(nb.cells) if c.cell_type == 'code'
            and images([c])]


def announced(nb, n):
    """Does the markdown just before cell `n` speak of a figure?"""
    before = [c for c in nb.cells[:n] if c.cell_type == 'markdown']
    return bool(before) and bool(FIGURE_WORDS.search(before[-1].source))


def legend_labels(cell):
    """The labels the cell gives its lines, and the legend() calls."""
    labels = re.findall(r"label='([^']*)'", cell.source)
    return labels, cell.source.count('.legend(')


# ------------------------------------------------------- both notebooks
@pytest.fixture(params=['class', 'neumf'])
def name(request):
    return request.param


def test_committed_notebook_is_its_source(name):
    nb = committed(name)
    assert sources(nb) == sources(builder().read_source(name)), (
        f'notebooks/{name}.ipynb is not what notebooks/{name}.py says: '
        f'run python notebooks/build.py --only {name}')
    assert nb.metadata['jupytext']['formats'] == 'ipynb,py:percent'


def test_committed_notebook_is_executed_cleanly(name):
    nb = committed(name)
    cells = code(nb)
    assert all(c.execution_count for c in cells)
    assert not errors(cells)
    assert not silent(cells), 'cells without output'
    assert not warnings_in(cells), warnings_in(cells)
    text = outputs_text(cells)
    assert 'environment ready' in text and 'mxnet    1.9.1' in text
    assert BOOK_LINE in text


def test_its_time_is_recorded_with_the_load(name):
    record = committed(name).metadata['execution']
    assert set(record) == {'seconds', 'cores', 'load_before', 'load_after'}
    ok, record = within_budget(committed(name), BUDGETS[name])
    assert ok, f'over {BUDGETS[name]} s at its load: {record}'


def test_the_chapters_five_definitions_are_shown_whole(name):
    """Each from d2l_ncf/chapter.py, never retyped: the displayed text
    is inspect.getsource of chapter.py's definition."""
    nb = committed(name)
    shown = [o['data']['text/plain'].rstrip('\n') for c in code(nb)
             for o in c.outputs if o.output_type == 'display_data'
             and 'text/plain' in o.get('data', {})]
    for definition in CHAPTER_NAMES:
        source = inspect.getsource(getattr(chapter, definition))
        assert source.rstrip('\n') in shown, definition
    text = open(os.path.join(NOTEBOOKS, name + '.py')).read()
    for definition in CHAPTER_NAMES:
        assert not re.search(rf'^(class|def) {definition}\b', text, re.M)
    assert 'ChapterNeuMF' not in text and '_fixed(' not in text


def test_every_figure_is_announced_and_has_a_full_legend(name):
    """No stray plot: each figure's cell follows text that speaks of it,
    and each labelled line reaches a legend (one legend() per axes, no
    second call to replace it with an empty one)."""
    nb = committed(name)
    drawn = figure_cells(nb)
    assert drawn, 'the notebook draws its learning curves'
    for n in drawn:
        assert announced(nb, n), nb.cells[n].source.splitlines()[0]
        labels, legends = legend_labels(nb.cells[n])
        if labels:
            assert all(labels) and legends >= 1
            assert legends <= nb.cells[n].source.count('_ax') + 1
    for n, cell in enumerate(nb.cells):
        if cell.cell_type == 'code' and n not in drawn:
            assert 'plt.' not in cell.source and 'd2l.plot' not in (
                cell.source), 'a plotting cell without a figure'


def test_no_plain_ln_or_k_as_a_cut_off(name):
    text = '\n'.join(c.source for c in builder().read_source(name).cells
                     if c.cell_type == 'markdown')
    for plain in ('ln2', 'lnσ', 'ln σ', 'Hit@k', 'NDCG@k', 'HR@k'):
        assert plain not in text, plain
    assert r'\ln 2' in text


# ------------------------------------------------- the class notebook
def test_class_notebook_records_its_story():
    nb = committed('class')
    assert 35 <= len(nb.cells) <= 55
    text = outputs_text(code(nb))
    assert 'no model, id order: hit rate 0.075, AUC 0.531' in text
    assert ('943 of 1682 films ever ranked; 113 of 943 test films never: '
            'the best possible hit rate is 0.880') in text
    [loss] = re.findall(r'ln 2 \(T \+ 1\) / \(2G\) = ([\d.]+); printed '
                        r'([\d.]+)', text)
    assert loss == ('16.982', '16.982')
    assert re.search(r'^corrected  Hit@50 0\.[2-9]\d\d  AUC 0\.8\d\d  '
                     r'NDCG@50 0\.\d+', text, re.M)
    assert 'book       Hit@50 0.075  AUC 0.531  NDCG@50 not measured' in text


def test_class_notebook_lists_ten_titles_from_each_model():
    text = outputs_text(code(committed('class')))
    rows = re.findall(r'^(\d+) +(.+?) \((0\.500)\)  (.+?) \((-?[\d.]+)\)$',
                      text, re.M)
    assert [int(r[0]) for r in rows] == list(range(1, 11))
    book, corrected = [r[1].strip() for r in rows], [r[3].strip()
                                                      for r in rows]
    assert len(set(book)) == len(set(corrected)) == 10
    scores = [float(r[4]) for r in rows]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    assert book != corrected


def test_class_notebook_reads_the_committed_ablation():
    text = outputs_text(code(committed('class')))
    import csv
    with open(os.path.join(REPO, 'docs', 'results', 'ablation',
                           'ablation.csv')) as f:
        full = {r['model']: r for r in csv.DictReader(f)
                if r['eval'] == 'full'}
    for model, row in full.items():
        assert re.search(rf"^{re.escape(model)} +"
                         rf"{float(row['hit_rate']):.3f} +"
                         rf"{float(row['auc']):.3f}", text, re.M), model
    assert 'neumf is level with gmf' in text


# --------------------------------------------------- the full notebook
def test_full_notebook_records_its_evidence():
    nb = committed('neumf')
    text = outputs_text(code(nb))
    assert 'BPR per triple with all scores tied: 0.6931' in text
    assert ("the chapter's evaluator, every score tied: hit rate 0.075, "
            "AUC 0.531") in text
    assert re.search(r'ties in expectation: Hit@50 0\.0\d\d, AUC 0\.500',
                     text)
    [by_hand] = re.findall(r'by hand: ln 2 \(T \+ 1\) / \(2 G\) = ([\d.]+)',
                           text)
    assert by_hand == '16.982' and 'printed: 16.982' in text
    # the collapse: with the sigmoid and decay the spread falls to 0
    book = re.findall(r'^book: sigmoid, wd 1e-5 +(\d+) +\S+ +(\S+)', text,
                      re.M)
    logits = re.findall(r'^logits, wd 1e-5 +(\d+) +\S+ +(\S+)', text, re.M)
    assert float(book[-1][1]) < 1e-3 < float(logits[-1][1])


def test_full_notebook_exercise_answers_follow_their_verdicts():
    """Each answer's word (level, below) is the verdict its cell printed
    by the rule it states."""
    nb = committed('neumf')
    text = outputs_text(code(nb))
    prose = '\n'.join(c.source for c in nb.cells if c.cell_type ==
                      'markdown')
    assert 'adam:0.01:0 is level with adam:0.01:1e-5' in text
    assert 'without decay Adam is level with it' in ' '.join(prose.split())
    assert 'hinge is level with bpr' in text and 'rank level' in prose
    assert not re.search(r'^\d+ is (above|below) \d+:', text, re.M)
    assert 'no step is beyond the noise' in prose
    for verdict in re.findall(r'is (level with|above|below) 10 10 10', text):
        assert verdict == 'level with'


# ------------------------------------------------------ the build script
def test_an_answer_block_becomes_a_raise_naming_its_todo():
    build = builder()
    source = ('def f(x):\n'
              '    # TODO: double x\n'
              '    # y = 2 x, shape (B,)\n'
              '    ### BEGIN ANSWER\n'
              '    return 2 * x\n'
              '    ### END ANSWER\n')
    assert build.strip_block(source) == (
        'def f(x):\n'
        '    # TODO: double x\n'
        '    # y = 2 x, shape (B,)\n'
        "    raise NotImplementedError('fill this in: double x')")
    with pytest.raises(ValueError, match='not closed'):
        build.strip_block('### BEGIN ANSWER\nx = 1\n')


def test_math_becomes_mathml_outside_code_spans_and_prices():
    build = builder()
    found = []
    text = build.math_to_placeholders(
        'score $\\hat{y}_{ui}$, `cost $5 or $6`, and\n'
        '$$\\ln 2 \\approx 0.6931$$; it costs $5 and $10, or \\$3', found)
    assert text == ('score MATHPLACEHOLDER0X, `cost $5 or $6`, and\n'
                    'MATHPLACEHOLDER1X; it costs $5 and $10, or \\$3')
    assert found[0].startswith('<math') and 'display="inline"' in found[0]
    assert 'display="block"' in found[1] and '<mi>ln</mi>' in found[1]


@pytest.mark.parametrize('formula', ['$\\frac{a$', '$$\\left( x$$',
                                     '$a}$'])
def test_malformed_math_names_the_file_line_and_formula(formula):
    build = builder()
    with pytest.raises(build.BuildError) as err:
        build.math_to_placeholders(f'fine $x$\nthen {formula} here', [],
                                   'docs/ERRATA.md')
    message = str(err.value)
    assert message.startswith('docs/ERRATA.md, line 2: cannot read the '
                              'formula ')
    assert repr(formula) in message and '\n' not in message


def test_a_bad_data_folder_is_one_line_before_any_kernel(tmp_path,
                                                        monkeypatch,
                                                        capsys):
    build = builder()
    monkeypatch.setenv('D2L_NCF_DATA_DIR', str(tmp_path))
    assert build.main(['--only', 'class']) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f'build.py: D2L_NCF_DATA_DIR={tmp_path} holds no '
                   f'u.data: point it at the unzipped ml-100k folder')


def test_a_stopped_notebook_is_named_in_one_line():
    build = builder()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('x = 1'),
        nbformat.v4.new_code_cell('data_dir = check_environment()')])
    nb.metadata['title'] = 'class'
    nb.cells[1].outputs = [nbformat.v4.new_output(
        'error', ename='EnvironmentNotReady',
        evalue='1 problem(s) above: fix them', traceback=['...'] * 80)]
    line = build.stopped_at(nb, Exception('long\ntraceback'))
    assert line == ("class: cell 1 ('data_dir = check_environment()') "
                    "stopped with EnvironmentNotReady: 1 problem(s) above:"
                    " fix them")


def test_a_remote_badge_becomes_a_link_on_the_pages(tmp_path):
    build = builder()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        '[![Binder](https://mybinder.org/badge_logo.svg)]'
        '(https://mybinder.org/v2/gh/x/y/HEAD)')])
    path = build.export_html(nb, str(tmp_path / 'p.html'), 'a page')
    text = open(path, encoding='utf-8').read()
    assert 'badge_logo.svg' not in text
    assert 'href="https://mybinder.org/v2/gh/x/y/HEAD"' in text


def test_math_in_a_heading_keeps_its_anchor_whole(tmp_path):
    build = builder()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        '## NDCG@$\\ell$ by hand\n\nwith $\\ell = 50$')])
    with open(build.export_html(nb, str(tmp_path / 'page.html'),
                                'a page'), encoding='utf-8') as f:
        text = f.read()
    attributes = re.findall(r'\b(?:id|href)="([^"]*)"', text)
    assert any('by-hand' in a for a in attributes)
    assert all('<' not in a and 'PLACEHOLDER' not in a for a in attributes)
    assert text.count('<math') == 2 and 'PLACEHOLDER' not in text


# ----------------------------------------------------------- executing
@pytest.mark.notebook
def test_class_notebook_runs(real_data_dir, monkeypatch):
    nb = with_parameters(builder().read_source('class'), num_epochs=2)
    run(nb, real_data_dir, monkeypatch)
    cells = code(nb)
    assert not silent(cells) and not warnings_in(cells)
    text = outputs_text(cells)
    assert re.search(r'train loss [\d.]+, test hit rate 0\.075, test AUC '
                     r'0\.531', text)
    assert 'no model, id order: hit rate 0.075, AUC 0.531' in text
    assert len(images(cells)) == 1


@pytest.mark.notebook
def test_full_notebook_runs(real_data_dir, monkeypatch):
    nb = with_parameters(builder().read_source('neumf'), num_epochs=2,
                         probe_batches=(1, 5))
    run(nb, real_data_dir, monkeypatch)
    cells = code(nb)
    assert not silent(cells) and not warnings_in(cells)
    text = outputs_text(cells)
    assert "the chapter's evaluator, every score tied: hit rate 0.075" in text
    assert len(images(cells)) == len(figure_cells(committed('neumf')))


@pytest.mark.notebook
def test_environment_check_stops_with_advice(tmp_path, monkeypatch):
    """No data where $D2L_NCF_DATA_DIR points: the first cell says what to
    do and stops (an error, so "Run all" stops there)."""
    nb = builder().read_source('class')
    first = nb.cells.index(code(nb)[0])
    nb.cells = nb.cells[:first + 1]
    run(nb, tmp_path, monkeypatch, allow_errors=True)
    text = outputs_text(nb.cells)
    assert 'holds no u.data: point it at the unzipped ml-100k' in text
    assert [e[1] for e in errors(nb.cells)] == ['EnvironmentNotReady']


# ------------------------------------------------- the environment check
def check_env():
    spec = importlib.util.spec_from_file_location(
        'check_env', os.path.join(NOTEBOOKS, 'check_env.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_python_past_3_11_is_told_how_to_get_3_11(monkeypatch):
    module = check_env()
    assert module.python_problems() == []  # this suite runs on 3.8-3.11
    monkeypatch.setattr(module.sys, 'version_info', (3, 12, 1))
    [problem] = module.python_problems()
    assert 'no wheels for newer ones' in problem
    assert 'conda, pyenv or uv' in problem


def test_a_missing_library_names_the_install_command(monkeypatch, capsys):
    module = check_env()
    real = module.importlib.metadata.version

    def version(dist):
        if dist == 'mxnet':
            raise module.importlib.metadata.PackageNotFoundError(dist)
        return real(dist)
    monkeypatch.setattr(module.importlib.metadata, 'version', version)
    [problem] = module.library_problems()
    assert problem.startswith('mxnet is missing')
    assert 'pip install -e ".[cpu]"' in problem
    assert 'mxnet    missing' in capsys.readouterr().out


# ---------------------------------------------------------------- binder
def pins(text):
    """{name: version} of the `name==version` pins in `text`."""
    return dict(re.findall(r'^\s*-?\s*([A-Za-z0-9_.-]+)==([\w.]+)', text,
                           re.M))


def test_binder_environment_names_the_versions_setup_cfg_pins():
    """binder/environment.yml (mybinder.org, or conda env create) gives
    Python 3.11, in setup.cfg's range, and every version setup.cfg pins
    (the CPU MXNet, d2l), plus the numpy d2l 1.0.3 pins."""
    with open(os.path.join(REPO, 'setup.cfg')) as f:
        cfg = f.read()
    with open(os.path.join(REPO, 'binder', 'environment.yml')) as f:
        env = f.read()
    assert 'python_requires = >=3.8, <3.12' in cfg
    assert re.search(r'^\s*-\s*python=3\.11\s*$', env, re.M)
    ours = pins(env)
    for name, version in pins(cfg).items():
        if name != 'mxnet-cu112':  # the GPU build: not on Binder
            assert ours.get(name) == version, (name, version, ours)
    assert ours['numpy'] == '1.23.5'  # d2l 1.0.3's pin
    with open(os.path.join(REPO, 'binder', 'postBuild')) as f:
        assert 'pip install --no-deps -e .' in f.read()
    assert os.access(os.path.join(REPO, 'binder', 'postBuild'), os.X_OK)


def test_binder_asks_for_a_python_the_package_runs_on():
    folder = os.path.join(REPO, 'binder')
    with open(os.path.join(folder, 'requirements.txt')) as f:
        lines = [line.strip() for line in f if not line.startswith('#')]
    assert '-e .[cpu,test]' in lines and 'jupytext>=1.16' in lines
