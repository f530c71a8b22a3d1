"""The lab: one source (notebooks/instructor/lab.py) giving the students'
copy (notebooks/lab.ipynb) and the executed answer key, kept out of the
students' folder (notebooks/instructor/); the key runs, the copy fails
only where a student has something to build."""
import os
import re

import nbformat
import pytest

from test_notebook import (NOTEBOOKS, BOOK_LINE, builder, code, errors,
                           outputs_text, run, silent, sources, tagged,
                           warnings_in, with_parameters, within_budget)

LAB = os.path.join(NOTEBOOKS, 'lab.ipynb')
KEY = os.path.join(NOTEBOOKS, 'instructor', 'lab_answers.ipynb')
BUDGET = 240  # seconds on 2 cores, scaled by the load per core above 1
SMALL = {'fit_epochs': 1, 'lab_epochs': 1}
BUILDS = ('bpr', 'GMF', 'MLP', 'NeuMF', 'from_parts', 'hit_and_auc')


def checks(nb):
    """The check cells: each calls one of notebooks/lab_checks.py's."""
    return [c for c in code(nb)
            if re.match(r'check_\w+\(', c.source.strip())]


def test_committed_lab_is_the_students_copy_of_its_source():
    build = builder()
    committed = nbformat.read(LAB, as_version=4)
    assert sources(committed) == sources(
        build.student_copy(build.read_source('lab'))), (
        "notebooks/lab.ipynb is not the students' copy of "
        "notebooks/instructor/lab.py: run python notebooks/build.py "
        "--only lab")
    assert all(not c.outputs for c in code(committed)), 'saved unexecuted'
    text = '\n'.join(c.source for c in committed.cells)
    assert 'BEGIN ANSWER' not in text and 'END ANSWER' not in text
    assert not tagged(committed, 'answer')


def test_the_answers_live_only_in_the_instructors_folder():
    """Handing out notebooks/ without instructor/ gives no answer: the
    source with the answers and the key are both in instructor/."""
    assert not os.path.exists(os.path.join(NOTEBOOKS, 'lab.py'))
    assert not os.path.exists(os.path.join(NOTEBOOKS, 'lab_answers.ipynb'))
    for path in (KEY, os.path.join(NOTEBOOKS, 'instructor', 'lab.py')):
        assert os.path.isfile(path)


def test_every_build_task_raises_until_done_and_has_a_check():
    nb = nbformat.read(LAB, as_version=4)
    todos = tagged(nb, 'todo')
    defined = [re.match(r'(?:class|def) (\w+)', c.source).group(1)
               for c in todos]
    assert defined == list(BUILDS)
    cells = code(nb)
    for cell in todos:
        assert '# TODO' in cell.source
        assert re.search(r"""raise NotImplementedError\(\n? *['"]fill """
                         r"""this in: """, cell.source), cell.source
        following = cells[cells.index(cell) + 1]
        assert following in checks(nb), cell.source.splitlines()[0]


def test_todos_state_math_and_shapes_not_code():
    """Each TODO comment says what to compute (a formula, a shape), and
    no TODO names the call that does it; its first line, repeated by the
    raise, is a short title, not the whole task."""
    nb = nbformat.read(LAB, as_version=4)
    for cell in tagged(nb, 'todo'):
        lines = cell.source.splitlines()
        for n, line in enumerate(lines):
            if line.strip().startswith('# TODO'):
                assert len(line.strip()) <= 50, line
                comment = []
                for more in lines[n + 1:]:
                    if not more.strip().startswith('#'):
                        break
                    comment.append(more)
                comment = '\n'.join(comment)
                assert re.search(r'\(B|x k|\(1,|shape|sigma|\bh\b|r <=',
                                 comment), comment
                for call in ('nn.Embedding', 'nn.Dense', 'np.concatenate',
                             'set_data', 'npx.sigmoid', 'np.log', '.add('):
                    assert call not in comment, (call, comment)


def test_the_lab_builds_what_the_issue_asks():
    source = '\n'.join(c.source for c in builder().read_source('lab').cells)
    for part in ('class GMF(', 'class MLP(', 'class NeuMF(',
                 'def from_parts(', 'def bpr(', 'def hit_and_auc(',
                 'my_prediction = ', '120 minutes', 'ties'):
        assert part in source, part
    assert source.index('my_prediction') < source.index("'popularity':")
    assert re.search(r'^my_prediction = \[\]', source, re.M)
    assert "fit(lambda: from_parts(gmf, mlp)" in source


def test_committed_answer_key_is_executed():
    build = builder()
    key = nbformat.read(KEY, as_version=4)
    assert sources(key) == sources(build.answer_key(build.read_source(
        'lab'))), 'run python notebooks/build.py --only lab'
    cells = code(key)
    assert all(c.execution_count for c in cells)
    assert not errors(cells) and not silent(cells)
    assert not warnings_in(cells), warnings_in(cells)
    for cell in checks(key):
        assert outputs_text([cell]).rstrip().endswith(': right.'), (
            cell.source.splitlines()[0])
    text = outputs_text(cells)
    assert BOOK_LINE in text
    # the students' metric equals the reference on the same users
    [(mine, ref)] = re.findall(r'yours: (Hit@50 [\d.]+, AUC [\d.]+); the '
                               r'reference: ([\d.]+, [\d.]+)', text)
    assert mine.replace('Hit@50 ', '').replace('AUC ', '') == ref
    # a constant scorer is chance: AUC 0.5
    assert re.search(r'a constant scorer, .*: Hit@50 0\.0\d\d, AUC 0\.500',
                     text)
    rows = dict((m, float(h)) for m, h in re.findall(
        r'^(popularity|gmf|mlp|neumf|neumf-pre) +([\d.]+) +[\d.]+$', text,
        re.M))
    assert set(rows) == {'popularity', 'gmf', 'mlp', 'neumf', 'neumf-pre'}
    assert rows['neumf'] > rows['popularity']
    # the key shows the MLP collapsing from Normal(0.01): part 1's ln 2
    # and chance, as its answer says
    [cell] = [c for c in cells if 'small_mlp, small_mlp_result' in c.source]
    assert re.search(r'^loss 0\.693, Hit@50 0\.0\d\d, AUC 0\.5\d\d',
                     outputs_text([cell]), re.M), outputs_text([cell])
    ok, record = within_budget(key, BUDGET)
    assert ok, f'over {BUDGET} s: {record}'


@pytest.mark.notebook
def test_answer_key_runs(real_data_dir, monkeypatch):
    build = builder()
    nb = with_parameters(build.answer_key(build.read_source('lab')),
                         **SMALL)
    run(nb, real_data_dir, monkeypatch)
    cells = code(nb)
    for cell in checks(nb):
        assert outputs_text([cell]).rstrip().endswith(': right.'), (
            outputs_text([cell]))
    assert not warnings_in(cells)
    text = outputs_text(cells)
    assert text.count('loss ') >= 4  # gmf, mlp, neumf, neumf-pre
    assert re.search(r'test hit rate 0\.075, test AUC 0\.531', text)


@pytest.mark.notebook
def test_students_copy_fails_only_in_its_todo_cells(real_data_dir,
                                                    monkeypatch):
    """Run as handed out: each TODO cell stops with 'fill this in', every
    other cell runs, and each check says what is not done yet."""
    nb = with_parameters(nbformat.read(LAB, as_version=4), **SMALL)
    run(nb, real_data_dir, monkeypatch, allow_errors=True)
    failed = [c for c in code(nb)
              if any(o.output_type == 'error' for o in c.outputs)]
    assert failed == tagged(nb, 'todo')
    for first_line, name, message in errors(nb.cells):
        assert name == 'NotImplementedError', (first_line, name, message)
        assert message.startswith('fill this in: '), message
    for cell in checks(nb):
        assert 'not filled in yet' in outputs_text([cell])
    assert 'not trained: fill this in' in outputs_text(code(nb))
