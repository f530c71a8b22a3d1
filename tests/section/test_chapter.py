"""`d2l_ncf/chapter.py` is the section's code as printed, completed from
d2l 1.0.3 where the page cuts it, and nothing else."""
import ast
import inspect
import os
import textwrap

import pytest

from d2l_ncf import chapter

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SECTION = os.path.join(REPO, '..', 'shared', 'chapter',
                       'neumf-section.txt')
# The lines the page leaves out or cuts short, completed (the module's
# docstring names each).
COMPLETED = [
    'npx.set_np()', '**kwargs):', 'use_bias=True))', 'devices):',
    'x.extend([np.array(user_ids)])', 'x.extend([np.array(item_ids)])',
    'batch_size=1024)', 'hit_rate.append(temp[0])', 'auc.append(temp[1])',
    'input_data[-1])]', 'trainer.step(values[0].shape[0])',
    'timer.stop()', 'devices)',
]
STARTS = ('import ', 'from ', 'class ', 'def ')


def printed_code_lines(text):
    """The code lines of the section's definitions and imports: blocks
    that open with import/from/class/def and run until the next prose
    line (one that starts at the margin and opens no definition)."""
    lines, in_code = [], False
    for line in text.splitlines():
        if line.startswith(STARTS):
            in_code = True
        elif line and not line[0].isspace() and not line.startswith(')'):
            in_code = False
        if in_code and line.strip():
            lines.append(line.rstrip())
    return lines


def chapter_code_lines():
    source = inspect.getsource(chapter)
    tree = ast.parse(source)
    doc_end = tree.body[0].end_lineno  # the module docstring
    return [line.rstrip() for line in source.splitlines()[doc_end:]
            if line.strip()]


@pytest.fixture(scope='module')
def section_text():
    if not os.path.isfile(SECTION):
        pytest.fail(f'{SECTION} is missing: the section is the reference')
    with open(SECTION, encoding='utf-8') as f:
        return f.read()


def test_every_printed_line_is_in_chapter_py_in_order(section_text):
    printed = printed_code_lines(section_text)
    assert len(printed) == 95  # the imports and the five definitions
    ours = chapter_code_lines()
    position = 0
    for line in printed:
        assert line in ours[position:], (
            f'printed line missing or out of order in chapter.py: {line!r}')
        position = ours.index(line, position) + 1


def test_chapter_py_holds_nothing_but_the_page_and_its_completions(
        section_text):
    printed = printed_code_lines(section_text)
    extra = list(ours for ours in chapter_code_lines())
    for line in printed:
        extra.remove(line)
    assert sorted(line.strip() for line in extra) == sorted(COMPLETED)
    # and the docstring names each completion
    for line in COMPLETED:
        assert line in chapter.__doc__, line


def test_the_parser_finds_the_definitions_in_the_book_order(section_text):
    heads = [line.split('(')[0] for line in
             printed_code_lines(section_text) if line.startswith(STARTS)]
    assert heads[-5:] == ['class NeuMF', 'class PRDataset',
                          'def hit_and_auc', 'def evaluate_ranking',
                          'def train_ranking']


class ZeroLowerSlice(ast.NodeTransformer):
    """``x[0:n]`` as ``x[:n]``: the page's slices and d2l's are one."""

    def visit_Slice(self, node):
        self.generic_visit(node)
        if isinstance(node.lower, ast.Constant) and node.lower.value == 0:
            node.lower = None
        return node


def normalized(fn):
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    body = tree.body[0].body
    if (body and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        tree.body[0].body = body[1:]  # docstrings aside
    return ast.dump(ZeroLowerSlice().visit(tree))


@pytest.mark.parametrize('name', ['hit_and_auc', 'evaluate_ranking',
                                  'train_ranking'])
def test_functions_d2l_ships_are_ast_equal_to_d2l(name):
    from d2l import mxnet as d2l
    assert normalized(getattr(chapter, name)) == normalized(
        getattr(d2l, name))


def test_slice_normalization_is_the_only_difference_it_hides():
    def a(x):
        return x[0:-1]

    def b(x):
        return x[:-1]

    def c(x):
        return x[1:-1]
    assert normalized(a).replace("'a'", "'b'") == normalized(b)
    assert normalized(c).replace("'c'", "'b'") != normalized(b)
