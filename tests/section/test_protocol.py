"""The protocol owns its rules: one allow-list, checked in one place."""
import dataclasses

import pytest

from d2l_ncf.protocol import BOOK, CHAPTERS, CORRECTED
from d2l_ncf.runs.config import TrainConfig


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
