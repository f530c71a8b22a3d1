"""The protocol owns its rules: one allow-list, checked in one place."""
import ast
import dataclasses
import pathlib

import pytest

from d2l_ncf.protocol import BOOK, CHAPTERS, CORRECTED, PROTOCOLS
from d2l_ncf.runs.config import TrainConfig

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / 'd2l_ncf'


def test_the_book_protocol_refuses_a_loss_it_does_not_name():
    # a deny-list (loss != 'log') would let a fourth loss run as "the
    # chapter's"; the allow-list names the chapter's two
    assert BOOK.refusal(loss='focal') == CHAPTERS
    assert BOOK.refusal(loss='hinge') is None
    assert CORRECTED.refusal(loss='focal') is None
    with pytest.raises(ValueError, match='book protocol'):
        BOOK.check(TrainConfig(loss='log'))


def test_the_allow_list_names_settings_and_takes_the_chapters_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for name, allowed, why in BOOK.accepts:
        assert name in fields, name
        assert fields[name] in allowed, name  # the defaults are the book's
        assert 'corrected' in why
    assert BOOK.refusal(TrainConfig()) is None


def test_an_evaluators_settings_meet_the_same_rules():
    assert 'fixes k = 50' in BOOK.refusal(k=10)
    assert BOOK.refusal(eval='sampled') == CHAPTERS
    assert BOOK.refusal(k=50, eval='full') is None


def compared_names(path):
    """Comparisons in `path` that involve a protocol's name: a literal
    one ('book' == ...) or a `.name` of something called *protocol*."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        for operand in [node.left] + node.comparators:
            literal = (isinstance(operand, ast.Constant)
                       and operand.value in PROTOCOLS)
            named = (isinstance(operand, ast.Attribute)
                     and operand.attr == 'name'
                     and 'protocol' in ast.unparse(operand.value))
            if literal or named:
                found.append(f'{path.name}:{node.lineno}')
    return found


def test_no_module_but_protocol_compares_protocol_names():
    found = [hit for path in sorted(PACKAGE.rglob('*.py'))
             if path.name != 'protocol.py' for hit in compared_names(path)]
    assert found == []


def test_the_name_scan_finds_a_comparison(tmp_path):
    # the scan above can fail: it sees both forms of comparison
    module = tmp_path / 'training.py'
    module.write_text("if protocol == 'book':\n    pass\n"
                      "if config.protocol.name != 'x':\n    pass\n")
    assert compared_names(module) == ['training.py:1', 'training.py:3']
