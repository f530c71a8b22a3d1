"""Write, execute and export the notebooks from their single sources.

    D2L_NCF_DATA_DIR=/path/to/ml-100k python notebooks/build.py
    python notebooks/build.py --html-only   # docs/*.html from what is saved

Sources (jupytext percent format, the only files to edit):

- ``neumf.py`` -> ``neumf.ipynb``, executed (paired: Jupyter with jupytext
  keeps the two in step as you edit either);
- ``lab.py`` (the lab with its answers) -> ``lab_answers.ipynb``,
  executed, and ``lab.ipynb``, the students' copy: cells tagged
  ``answer`` dropped, each ``### BEGIN ANSWER`` ... ``### END ANSWER``
  block replaced by a ``raise NotImplementedError('fill this in: ...')``
  naming the ``# TODO`` above it, saved without outputs.

Then the pages: neumf.ipynb, lab.ipynb and docs/ERRATA.md to
docs/neumf.html, docs/lab.html and docs/errata.html, with the math turned
into MathML here (latex2mathml) and nothing loaded from the network.
Executing takes about 4 + 4 minutes on a 2-core CPU.
"""
import argparse
import os
import re
import sys
import textwrap
import time

import jupytext
import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(os.path.dirname(HERE), 'docs')
BEGIN, END = '### BEGIN ANSWER', '### END ANSWER'
TITLES = {
    'neumf': 'NeuMF: Neural Collaborative Filtering for Personalized '
             'Ranking (d2l 16.6), executed',
    'lab': 'Lab: build NeuMF\'s parts (students\' copy)',
    'errata': 'Errata: the chapter\'s code, its numbers, and our fixes',
}


def read_source(name):
    """The notebook written by notebooks/NAME.py, without outputs."""
    nb = jupytext.read(os.path.join(HERE, name + '.py'))
    for n, cell in enumerate(nb.cells):
        cell.id = f'cell-{n}'  # stable ids: a rebuild changes nothing
    return nb


# ------------------------------------------------------- the student copy
def todo_message(lines, index):
    """'fill this in: ...' from the ``# TODO`` comment above `index` (it
    may run on over the comment lines below it)."""
    what = []
    for line in reversed(lines[:index]):
        text = line.strip()
        if not text.startswith('#'):
            break
        if text.startswith('# TODO'):
            what.insert(0, text[len('# TODO'):].lstrip(':').strip())
            return ' '.join(['fill this in:'] + what).rstrip(':')
        what.insert(0, text.lstrip('#').strip())
    return 'fill this in'


def raise_lines(indent, message, width=79):
    """``raise NotImplementedError(message)``, wrapped to `width`."""
    one = f'{indent}raise NotImplementedError({message!r})'
    if len(one) <= width:
        return [one]
    pieces = textwrap.wrap(message, width - len(indent) - 8,
                           drop_whitespace=False)
    return [f'{indent}raise NotImplementedError('] + [
        f'{indent}    {piece!r}' for piece in pieces[:-1]] + [
        f'{indent}    {pieces[-1]!r})']


def strip_block(source):
    """`source` with each answer block replaced by a raise."""
    lines, out, skipping = source.splitlines(), [], False
    for index, line in enumerate(lines):
        if line.strip() == BEGIN:
            indent = line[:len(line) - len(line.lstrip())]
            out += raise_lines(indent, todo_message(lines, index))
            skipping = True
        elif line.strip() == END:
            skipping = False
        elif not skipping:
            out.append(line)
    if skipping:
        raise ValueError(f'an answer block is not closed:\n{source}')
    return '\n'.join(out)


def student_copy(nb):
    """The lab for students: answers out, TODO cells raising."""
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells
                if 'answer' not in c.metadata.get('tags', [])]
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.source = strip_block(cell.source)
            cell.outputs, cell.execution_count = [], None
        else:
            cell.source = cell.source.replace(BEGIN, '').replace(END, '')
    nb.metadata.pop('jupytext', None)  # generated: not paired with lab.py
    nb.metadata['title'] = TITLES['lab']
    return nb


def answer_key(nb):
    """The lab with its answers: the source with markers left out."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.source = '\n'.join(
                line for line in cell.source.splitlines()
                if line.strip() not in (BEGIN, END))
    nb.metadata.pop('jupytext', None)
    nb.metadata['title'] = 'Lab: build NeuMF\'s parts (answer key)'
    return nb


# ------------------------------------------------------------ executing
def execute(nb, timeout=1800):
    """Run `nb` in place with a fresh kernel in notebooks/; seconds.

    The notebook's metadata records the seconds, the cores and the load
    average before and after (the machine may be shared): the tests
    hold the budgets against them."""
    from nbclient import NotebookClient
    load = os.getloadavg()[0]
    tic = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name='python3',
                   resources={'metadata': {'path': HERE}}).execute()
    seconds = time.perf_counter() - tic
    nb.metadata['execution'] = {
        'seconds': round(seconds, 1), 'cores': os.cpu_count(),
        'load_before': round(load, 2),
        'load_after': round(os.getloadavg()[0], 2)}
    return seconds


def save(nb, name):
    path = os.path.join(HERE, name + '.ipynb')
    nbformat.write(nb, path)
    print(path)
    return path


# ------------------------------------------------------------------ HTML
# TeX that latex2mathml 3.x does not read, and what it reads instead
FOR_MATHML = [(r'\begin{aligned}', r'\begin{array}{rl}'),
              (r'\end{aligned}', r'\end{array}'),
              (r'\setminus', r'\backslash')]  # U+2216: few fonts have it
# $$display$$, or $inline$ (which may wrap a line, not a paragraph)
MATH = re.compile(r'\$\$(.+?)\$\$'
                  r'|\$((?:[^$\n]|\n(?![ \t]*\n))+?)\$', re.S)
CODE_SPAN = re.compile(r'(`+)(.+?)\1', re.S)
PLACEHOLDER = re.compile(r'MATHPLACEHOLDER(\d+)X')


def math_to_placeholders(text, found):
    """`text` with each $...$ and $$...$$ outside code spans replaced by a
    placeholder; `found` collects the MathML for each."""
    from latex2mathml.converter import convert

    def replace(match):
        block, inline = match.group(1), match.group(2)
        tex = block if block is not None else inline
        for theirs, ours in FOR_MATHML:
            tex = tex.replace(theirs, ours)
        mathml = convert(tex.strip(), display='block' if block else 'inline')
        found.append(mathml)
        return f'MATHPLACEHOLDER{len(found) - 1}X'

    pieces, last = [], 0
    for span in CODE_SPAN.finditer(text):
        pieces.append(MATH.sub(replace, text[last:span.start()]))
        pieces.append(span.group(0))
        last = span.end()
    pieces.append(MATH.sub(replace, text[last:]))
    return ''.join(pieces)


def export_html(nb, path, title):
    """`nb` as a page that loads nothing from the network."""
    from nbconvert import HTMLExporter
    nb = nbformat.from_dict(nb)
    nb.metadata['title'] = title
    found = []
    for cell in nb.cells:
        if cell.cell_type == 'markdown':
            cell.source = math_to_placeholders(cell.source, found)
    exporter = HTMLExporter(extra_template_basedirs=[HERE],
                            template_name='offline_html')
    body, _ = exporter.from_notebook_node(
        nb, resources={'metadata': {'name': title}})

    def as_text(placeholder):
        return re.sub(r'<[^>]+>', '', found[int(placeholder.group(1))])

    # In an attribute (a heading's id, its anchor's href) the math goes in
    # as its text: MathML there would end the attribute and break the page
    body = re.sub(r'="[^"<>]*"',
                  lambda a: PLACEHOLDER.sub(as_text, a.group(0)), body)
    body = PLACEHOLDER.sub(lambda m: found[int(m.group(1))], body)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(body)
    print(path)
    return path


def markdown_notebook(path):
    """A markdown file as a one-cell notebook (for its page)."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    cell = nbformat.v4.new_markdown_cell(text)
    cell.id = 'cell-0'  # stable: a rebuild of the same text is the same
    return nbformat.v4.new_notebook(cells=[cell])


def export_pages():
    """docs/neumf.html, docs/lab.html, docs/errata.html."""
    pages = [(nbformat.read(os.path.join(HERE, 'neumf.ipynb'), 4), 'neumf'),
             (nbformat.read(os.path.join(HERE, 'lab.ipynb'), 4), 'lab'),
             (markdown_notebook(os.path.join(DOCS, 'ERRATA.md')), 'errata')]
    return [export_html(nb, os.path.join(DOCS, name + '.html'),
                        TITLES[name]) for nb, name in pages]


# ------------------------------------------------------------------ main
def build_neumf(run):
    nb = read_source('neumf')
    if run:
        print(f'neumf.ipynb executed in {execute(nb):.0f} s')
    save(nb, 'neumf')


def build_lab(run):
    source = read_source('lab')
    save(student_copy(source), 'lab')
    key = answer_key(source)
    if run:
        print(f'lab_answers.ipynb executed in {execute(key):.0f} s')
    save(key, 'lab_answers')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--no-execute', action='store_true',
                        help='write the notebooks without outputs')
    parser.add_argument('--html-only', action='store_true',
                        help='only export docs/*.html from the saved '
                             'notebooks')
    parser.add_argument('--only', choices=('neumf', 'lab'),
                        help='build one notebook (and all pages)')
    args = parser.parse_args(argv)
    if not args.html_only:
        if args.only in (None, 'neumf'):
            build_neumf(not args.no_execute)
        if args.only in (None, 'lab'):
            build_lab(not args.no_execute)
    export_pages()


if __name__ == '__main__':
    sys.exit(main())
