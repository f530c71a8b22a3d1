"""Execute notebooks/neumf.ipynb top to bottom with small parameters."""
import os

import nbformat
import pytest

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                        'notebooks', 'neumf.ipynb')


def with_parameters(nb, **values):
    """Insert a cell of overrides after the cell tagged `parameters`."""
    index = next(i for i, c in enumerate(nb.cells)
                 if 'parameters' in c.metadata.get('tags', []))
    source = '\n'.join(f'{k} = {v!r}' for k, v in values.items())
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


@pytest.mark.notebook
def test_notebook_runs(synthetic_dir, tmp_path):
    from nbclient import NotebookClient
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get('outputs') for c in nb.cells
               if c.cell_type == 'code'), 'saved with outputs'
    nb = with_parameters(nb, num_epochs=2, batch_size=32,
                         devices_spec='cpu', data_dir=synthetic_dir,
                         exercise_epochs=1, exercise_values=['2', '4'])
    NotebookClient(nb, timeout=600, kernel_name='python3',
                   resources={'metadata': {'path': str(tmp_path)}}).execute()
    text = '\n'.join(o.get('text', '') for c in nb.cells
                     if c.cell_type == 'code' for o in c.outputs)
    assert 'train loss' in text and 'test hit rate@50' in text
    images = [o for c in nb.cells if c.cell_type == 'code'
              for o in c.outputs
              if {'image/png', 'image/svg+xml'} & set(o.get('data', {}))]
    assert len(images) >= 4  # two Animators and two plots (d2l uses SVG)


def test_notebook_follows_the_section():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    headings = [line for c in nb.cells if c.cell_type == 'markdown'
                for line in c.source.splitlines() if line.startswith('## ')]
    assert headings[:6] == [
        '## The NeuMF model', '## Model implementation',
        '## A dataset with negative sampling', '## The evaluator',
        '## Training and evaluating the model',
        '## The same run, corrected']
    assert headings[-2:] == ['## Summary', '## Exercises']
    tagged = [c for c in nb.cells
              if 'parameters' in c.metadata.get('tags', [])]
    assert len(tagged) == 1
