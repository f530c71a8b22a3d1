"""The lab: one source (notebooks/lab.py) giving the students' copy and
the executed answer key; the key runs, the copy fails only where a
student has something to fill in."""
import os
import re

import nbformat
import pytest

from test_notebook import (NOTEBOOKS, builder, code, errors, outputs_text,
                           run, silent, sources, tagged, with_parameters,
                           within_budget)

LAB = os.path.join(NOTEBOOKS, 'lab.ipynb')
KEY = os.path.join(NOTEBOOKS, 'lab_answers.ipynb')
BUDGET = 300  # seconds on 2 cores, real data (issue 26)
SMALL = {'batch_size': 32, 'fit_epochs': 2, 'lab_epochs': 2, 'k': 10}


def checks(nb):
    """The check cells: each calls one of notebooks/lab_checks.py's."""
    return [c for c in code(nb)
            if re.match(r'check_\w+\(', c.source.strip())]


def test_committed_lab_is_the_students_copy_of_its_source():
    build = builder()
    committed = nbformat.read(LAB, as_version=4)
    assert sources(committed) == sources(
        build.student_copy(build.read_source('lab'))), (
        'notebooks/lab.ipynb is not the students\' copy of notebooks/lab.py:'
        ' run python notebooks/build.py --only lab')
    assert all(not c.outputs for c in code(committed)), 'saved unexecuted'
    text = '\n'.join(c.source for c in committed.cells)
    assert 'BEGIN ANSWER' not in text and 'END ANSWER' not in text
    assert not tagged(committed, 'answer')


def test_every_build_task_raises_until_done_and_has_a_check():
    nb = nbformat.read(LAB, as_version=4)
    todos = tagged(nb, 'todo')
    assert len(todos) >= 5  # GMF, MLP, hinge, ndcg_at, ndcg_by_hand
    cells = code(nb)
    for cell in todos:
        assert '# TODO' in cell.source
        assert 'raise NotImplementedError(' in cell.source
        assert "'fill this in: " in cell.source
        following = cells[cells.index(cell) + 1]
        assert following in checks(nb), cell.source.splitlines()[0]


def test_the_lab_builds_what_the_issue_asks():
    source = '\n'.join(c.source for c in builder().read_source('lab').cells)
    for part in ('class GMF(', 'class MLP(', 'def hinge(', 'def ndcg_at(',
                 'def ndcg_by_hand(', 'my_prediction = ',
                 '120 minutes'):
        assert part in source, part
    # a prediction before the ablation's run, written by the student
    assert source.index('my_prediction') < source.index('mlp = fit(')
    assert re.search(r'^my_prediction = \[\]', source, re.M)
    assert 'fit(lambda: MLP(' in source and 'init=0.1)' in source


def test_committed_answer_key_is_executed():
    build = builder()
    key = nbformat.read(KEY, as_version=4)
    assert sources(key) == sources(build.answer_key(build.read_source(
        'lab'))), 'run python notebooks/build.py --only lab'
    cells = code(key)
    assert all(c.execution_count for c in cells)
    assert not errors(cells)
    assert not silent(cells)
    for cell in checks(key):
        assert outputs_text([cell]).rstrip().endswith(': right.'), (
            cell.source.splitlines()[0])
    text = outputs_text(cells)
    assert 'train loss 16.982, test hit rate 0.075, test AUC 0.531' in text
    assert 'best possible hit rate 0.880' in text
    # the MLP collapses from the chapter's start and learns from N(0.1)
    rows = dict((m, (float(h), float(a))) for m, h, a in re.findall(
        r'^(mlp|mlp, N\(0\.1\)|popularity) +([\d.]+) +([\d.]+) ', text,
        re.M))
    assert rows['mlp'][1] == 0.5 and rows['mlp, N(0.1)'][1] > 0.75
    assert rows['mlp, N(0.1)'][0] > rows['popularity'][0]
    ok, record = within_budget(key, BUDGET)
    assert ok, f'over {BUDGET} s: {record}'


@pytest.mark.notebook
def test_answer_key_runs(synthetic_dir, monkeypatch):
    build = builder()
    nb = with_parameters(build.answer_key(build.read_source('lab')),
                         **SMALL)
    run(nb, synthetic_dir, monkeypatch)
    cells = code(nb)
    for cell in checks(nb):
        assert outputs_text([cell]).rstrip().endswith(': right.'), (
            outputs_text([cell]))
    text = outputs_text(cells)
    # neumf, gmf x2, mlp from N(0.01) and N(0.1), book x2
    assert text.count('train loss') == 7
    assert 'best possible hit rate' in text
    for model in ('popularity', 'gmf', 'mlp', 'neumf'):
        assert re.search(rf'^{model} +[\d.]+ +[\d.]+ +[\d.]+$', text, re.M)


@pytest.mark.notebook
def test_students_copy_fails_only_in_its_todo_cells(synthetic_dir,
                                                    monkeypatch):
    """Run as handed out: each TODO cell stops with 'fill this in', every
    other cell runs, and each check says what is not done yet."""
    nb = with_parameters(nbformat.read(LAB, as_version=4), **SMALL)
    run(nb, synthetic_dir, monkeypatch, allow_errors=True)
    failed = [c for c in code(nb)
              if any(o.output_type == 'error' for o in c.outputs)]
    assert failed == tagged(nb, 'todo')
    for first_line, name, message in errors(nb.cells):
        assert name == 'NotImplementedError', (first_line, name, message)
        assert message.startswith('fill this in: '), message
    for cell in checks(nb):
        assert 'not filled in yet' in outputs_text([cell])
    assert 'not trained: fill this in' in outputs_text(code(nb))
