"""Write, execute and export the notebooks from their single sources.

    D2L_NCF_DATA_DIR=/path/to/ml-100k python notebooks/build.py
    python notebooks/build.py --only class   # one notebook (and the pages)
    python notebooks/build.py --html-only    # docs/*.html from what is saved

Sources (jupytext percent format, the only files to edit):

- ``class.py`` -> ``class.ipynb`` and ``neumf.py`` -> ``neumf.ipynb``,
  executed (paired: Jupyter with jupytext keeps each pair in step);
- ``instructor/lab.py`` (the lab with its answers) ->
  ``instructor/lab_answers.ipynb``, executed, and ``lab.ipynb``, the
  students' copy: cells tagged ``answer`` dropped, each ``### BEGIN
  ANSWER`` ... ``### END ANSWER`` block replaced by a
  ``raise NotImplementedError('fill this in: ...')`` naming the
  ``# TODO`` above it, saved without outputs. Hand out notebooks/
  without instructor/ (README.md, "Teach with it").

Then the pages: the notebooks and docs/ERRATA.md to docs/class.html,
docs/neumf.html, docs/lab.html and docs/errata.html, with the math turned
into MathML here (latex2mathml) and nothing loaded from the network.
Each executed notebook records its seconds and the load in its metadata.
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
INSTRUCTOR = os.path.join(HERE, 'instructor')
SOURCES = {'class': os.path.join(HERE, 'class.py'),
           'neumf': os.path.join(HERE, 'neumf.py'),
           'lab': os.path.join(INSTRUCTOR, 'lab.py')}
BEGIN, END = '### BEGIN ANSWER', '### END ANSWER'
TITLES = {
    'class': 'NeuMF in one class hour: the chapter, its numbers explained, '
             'and what a working model recommends',
    'neumf': 'NeuMF: Neural Collaborative Filtering for Personalized '
             'Ranking (d2l 16.6), executed',
    'lab': 'Lab: build NeuMF\'s parts (students\' copy)',
    'errata': 'Errata: the chapter\'s code, its numbers, and our fixes',
}


def read_source(name):
    """The notebook written by notebooks/NAME.py, without outputs."""
    nb = jupytext.read(SOURCES[name])
    for n, cell in enumerate(nb.cells):
        cell.id = f'cell-{n}'  # stable ids: a rebuild changes nothing
    return nb


# ------------------------------------------------------- the student copy
def todo_message(lines, index):
    """'fill this in: ...' from the first line of the ``# TODO`` comment
    above `index` (the lines below it, the math and shapes, stay in the
    cell and are not repeated)."""
    for line in reversed(lines[:index]):
        text = line.strip()
        if not text.startswith('#'):
            break
        if text.startswith('# TODO'):
            what = text[len('# TODO'):].lstrip(':').strip()
            return f'fill this in: {what}' if what else 'fill this in'
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
class BuildError(Exception):
    """A notebook or page could not be built; the message says why in a
    line (main prints it, not a traceback)."""


def stopped_at(nb, err):
    """One line: which cell stopped `nb`, and its error's last line."""
    for n, cell in enumerate(nb.cells):
        for out in cell.get('outputs', []):
            if out.get('output_type') == 'error':
                first = (cell.source.strip().splitlines() or [''])[0]
                return (f'{nb.metadata.get("title", "the notebook")}: cell '
                        f'{n} ({first[:40]!r}) stopped with {out.ename}: '
                        f'{out.evalue}')
    return f'the notebook stopped: {str(err).strip().splitlines()[-1]}'


def check_data_dir():
    """$D2L_NCF_DATA_DIR, if set, must hold u.data: say so before any
    kernel starts."""
    data_dir = os.environ.get('D2L_NCF_DATA_DIR')
    if data_dir and not os.path.isfile(os.path.join(data_dir, 'u.data')):
        raise BuildError(f'D2L_NCF_DATA_DIR={data_dir} holds no u.data: '
                         f'point it at the unzipped ml-100k folder')


def execute(nb, timeout=1800):
    """Run `nb` in place with a fresh kernel in notebooks/; seconds.

    The notebook's metadata records the seconds, the cores and the load
    average before and after (the machine may be shared): the tests
    hold the budgets against them."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    load = os.getloadavg()[0]
    tic = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name='python3',
                       resources={'metadata': {'path': HERE}}).execute()
    except CellExecutionError as err:
        raise BuildError(stopped_at(nb, err)) from None
    seconds = time.perf_counter() - tic
    nb.metadata['execution'] = {
        'seconds': round(seconds, 1), 'cores': os.cpu_count(),
        'load_before': round(load, 2),
        'load_after': round(os.getloadavg()[0], 2)}
    return seconds


def save(nb, name, folder=HERE):
    path = os.path.join(folder, name + '.ipynb')
    nbformat.write(nb, path)
    print(path)
    return path


# ------------------------------------------------------------------ HTML
# TeX that latex2mathml 3.x does not read, and what it reads instead
FOR_MATHML = [(r'\begin{aligned}', r'\begin{array}{rl}'),
              (r'\end{aligned}', r'\end{array}'),
              (r'\setminus', r'\backslash')]  # U+2216: few fonts have it
# $$display$$, or $inline$ (which may wrap a line, not a paragraph); as
# in pandoc, an inline opening $ has a non-space after it and a closing
# one a non-space before it and no digit after it, so prices ("$5 and
# $10") stay text
MATH = re.compile(r'(?<!\\)\$\$(.+?)\$\$'
                  r'|(?<!\\)\$(?=\S)((?:[^$\n]|\n(?![ \t]*\n))+?)(?<=\S)\$(?!\d)',
                  re.S)
CODE_SPAN = re.compile(r'(`+)(.+?)\1', re.S)
PLACEHOLDER = re.compile(r'MATHPLACEHOLDER(\d+)X')
REMOTE_IMAGE = re.compile(r'!\[([^\]]*)\]\((?:https?:)?//[^)\s]+\)')


def check_braces(tex):
    """Raise ValueError if `tex`'s braces do not pair (latex2mathml
    renders ``\\frac{a`` without a word)."""
    depth = 0
    for char in re.sub(r'\\[{}]', '', tex):
        depth += {'{': 1, '}': -1}.get(char, 0)
        if depth < 0:
            raise ValueError('a } closes no {')
    if depth:
        raise ValueError(f'{depth} {{ not closed')


def math_to_placeholders(text, found, source='the page'):
    """`text` with each $...$ and $$...$$ outside code spans replaced by a
    placeholder; `found` collects the MathML for each. A formula
    latex2mathml cannot read is a `BuildError` naming `source` and it."""
    from latex2mathml.converter import convert

    def replace(match):
        block, inline = match.group(1), match.group(2)
        tex = block if block is not None else inline
        for theirs, ours in FOR_MATHML:
            tex = tex.replace(theirs, ours)
        try:
            check_braces(tex)
            mathml = convert(tex.strip(),
                             display='block' if block else 'inline')
        except Exception as err:  # latex2mathml's errors have no base
            line = text[:match.start()].count('\n') + 1
            raise BuildError(
                f'{source}, line {line}: cannot read the formula '
                f'{match.group(0)!r} ({type(err).__name__}: {err}); '
                f'write it as TeX latex2mathml reads, or escape a '
                f'literal dollar as \\$') from None
        found.append(mathml)
        return f'MATHPLACEHOLDER{len(found) - 1}X'

    pieces, last = [], 0
    for span in CODE_SPAN.finditer(text):
        pieces.append(MATH.sub(replace, text[last:span.start()]))
        pieces.append(span.group(0))
        last = span.end()
    pieces.append(MATH.sub(replace, text[last:]))
    return ''.join(pieces)


def export_html(nb, path, title, source='the notebook'):
    """`nb` as a page that loads nothing from the network; `source` names
    it in an error."""
    from nbconvert import HTMLExporter
    nb = nbformat.from_dict(nb)
    nb.metadata['title'] = title
    found = []
    for cell in nb.cells:
        if cell.cell_type == 'markdown':
            # a remote image (the Binder badge) would load from the
            # network: the page shows its alt text, still a link
            cell.source = REMOTE_IMAGE.sub(lambda m: m.group(1) or 'image',
                                           cell.source)
            cell.source = math_to_placeholders(cell.source, found, source)
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
    """docs/class.html, docs/neumf.html, docs/lab.html, docs/errata.html."""
    pages = [(os.path.join(HERE, name + '.ipynb'), name)
             for name in ('class', 'neumf', 'lab')]
    pages.append((os.path.join(DOCS, 'ERRATA.md'), 'errata'))
    written = []
    for path, name in pages:
        nb = (markdown_notebook(path) if path.endswith('.md')
              else nbformat.read(path, 4))
        written.append(export_html(nb, os.path.join(DOCS, name + '.html'),
                                   TITLES[name], os.path.relpath(path)))
    return written


# ------------------------------------------------------------------ main
def build_notebook(name, run):
    """class or neumf: NAME.py to NAME.ipynb, executed if `run`."""
    nb = read_source(name)
    if run:
        print(f'{name}.ipynb executed in {execute(nb):.0f} s')
    save(nb, name)


def refresh_prose(name):
    """Put the sources' markdown into the saved, executed notebook(s) of
    `name` without running them again: only if every code cell is as
    the source says (else the outputs would not be the code's)."""
    source = read_source(name)
    pairs = ([(source, name, HERE)] if name != 'lab' else
             [(student_copy(source), 'lab', HERE),
              (answer_key(source), 'lab_answers', INSTRUCTOR)])
    for new, saved_name, folder in pairs:
        path = os.path.join(folder, saved_name + '.ipynb')
        saved = nbformat.read(path, 4)
        code = [[c.source for c in nb.cells if c.cell_type == 'code']
                for nb in (new, saved)]
        kinds = [[c.cell_type for c in nb.cells] for nb in (new, saved)]
        if code[0] != code[1] or kinds[0] != kinds[1]:
            raise BuildError(f'{os.path.relpath(path)}: its code cells '
                             f'differ from the source: execute it again '
                             f'(python notebooks/build.py --only {name})')
        for mine, theirs in zip(saved.cells, new.cells):
            if mine.cell_type == 'markdown':
                mine.source = theirs.source
                mine.metadata = theirs.metadata
        save(saved, saved_name, folder)


def build_lab(run):
    source = read_source('lab')
    save(student_copy(source), 'lab')
    key = answer_key(source)
    if run:
        print(f'lab_answers.ipynb executed in {execute(key):.0f} s')
    save(key, 'lab_answers', INSTRUCTOR)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--no-execute', action='store_true',
                        help='write the notebooks without outputs')
    parser.add_argument('--html-only', action='store_true',
                        help='only export docs/*.html from the saved '
                             'notebooks')
    parser.add_argument('--prose-only', action='store_true',
                        help='put the sources\' markdown into the saved '
                             'notebooks, not executing them (their code '
                             'must be unchanged)')
    parser.add_argument('--only', choices=('class', 'neumf', 'lab'),
                        help='build one notebook (and all pages)')
    args = parser.parse_args(argv)
    try:
        if args.prose_only:
            for name in ('class', 'neumf', 'lab'):
                if args.only in (None, name):
                    refresh_prose(name)
        elif not args.html_only:
            if not args.no_execute:
                check_data_dir()
            for name in ('class', 'neumf'):
                if args.only in (None, name):
                    build_notebook(name, not args.no_execute)
            if args.only in (None, 'lab'):
                build_lab(not args.no_execute)
        export_pages()
    except BuildError as err:
        print(f'build.py: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
