"""A pytest plugin that prints how many tests each tier holds.

`pytest --collect-only -q -m "" -p tiers` (with this folder on
PYTHONPATH) ends with one line, ``tiers: {"fast": N, "slow": N,
"notebook": N}``: the tests `pytest`, `pytest -m slow` and `pytest -m
notebook` select (setup.cfg's markers). tests/test_suite.py compares it
with tests/README.md.
"""
import json

TIERS = ('fast', 'slow', 'notebook')


def tiers_of(item):
    """The tiers whose command selects `item`."""
    marked = [t for t in TIERS[1:] if item.get_closest_marker(t)]
    return marked or ['fast']


def pytest_collection_finish(session):
    counts = dict.fromkeys(TIERS, 0)
    for item in session.items:
        for tier in tiers_of(item):
            counts[tier] += 1
    print('tiers: ' + json.dumps(counts))
