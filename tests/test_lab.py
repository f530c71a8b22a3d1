"""The lab: written by the generator, and it runs on small data."""
import os
import re

import nbformat
import pytest

from test_notebook import (REPO, generator, images, outputs_text, tagged,
                           with_parameters)

LAB = os.path.join(REPO, 'notebooks', 'lab.ipynb')


def test_committed_lab_is_the_generators_output():
    committed = nbformat.read(LAB, as_version=4)
    gen = generator()
    assert [(c.cell_type, c.source) for c in committed.cells] == [
        (c.cell_type, c.source) for c in gen.build_lab().cells]
    assert all(not c.outputs for c in committed.cells
               if c.cell_type == 'code'), 'the lab is saved without outputs'


def test_lab_shares_the_notebooks_chapter_code():
    gen = generator()
    assert [c.source for c in tagged(gen.build_lab(), 'chapter')] == [
        c.source for c in tagged(gen.build_notebook(), 'chapter')]


def test_every_question_has_a_time_and_an_answer():
    gen = generator()
    answers = open(os.path.join(REPO, 'notebooks',
                                'lab_answers.md')).read()
    for n, (question, _) in enumerate(gen.LAB_QUESTIONS, 1):
        assert question.startswith(f'## {n}.')
        assert re.search(r'\(about [\d.]+ (s|minutes)', question), question
        assert 'Predict' in question
        assert f'## {n}.' in answers


@pytest.mark.notebook
def test_lab_runs(synthetic_dir, tmp_path):
    from nbclient import NotebookClient
    nb = with_parameters(nbformat.read(LAB, as_version=4), batch_size=32,
                         data_dir=synthetic_dir, lab_epochs=2, k=10)
    NotebookClient(nb, timeout=900, kernel_name='python3',
                   resources={'metadata': {'path': str(tmp_path)}}).execute()
    nbformat.write(nb, str(tmp_path / 'executed.ipynb'))
    text = outputs_text(nb)
    assert text.count('train loss') == 5  # questions 1, 3, 4, 7, 8
    assert 'pairs meeting the margin of 1: 0.000' in text
    assert 'best possible hit rate' in text
    assert 'examples/sec on [cpu(0)]' in text  # question 8
    assert images(nb.cells)  # the chapter's Animator
