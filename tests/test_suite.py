"""The test suite's own promises: tests/README.md's counts are the ones
pytest collects for each tier."""
import json
import os
import re
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)


def readme_counts():
    """{tier: count} from tests/README.md's table of tiers."""
    with open(os.path.join(TESTS, 'README.md'), encoding='utf-8') as f:
        rows = re.findall(r'^\| (\w+) \| `[^`]+` \| (\d+) \|', f.read(),
                          re.M)
    return {tier: int(count) for tier, count in rows}


def collected_counts():
    """{tier: count} as pytest collects them now (tests/tiers.py)."""
    done = subprocess.run(
        [sys.executable, '-m', 'pytest', '--collect-only', '-q', '-m', '',
         '-p', 'tiers', '-p', 'no:cacheprovider', TESTS], cwd=REPO,
        env=dict(os.environ, PYTHONPATH=TESTS), capture_output=True,
        text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    line = [l for l in done.stdout.splitlines() if l.startswith('tiers: ')]
    return json.loads(line[-1][len('tiers: '):])


@pytest.mark.slow  # a collection of the whole suite: seconds
def test_the_readme_counts_each_tier_as_collected():
    assert readme_counts() == collected_counts()


def test_the_readme_table_is_read():
    # the comparison above would pass vacuously on a table it cannot read
    assert set(readme_counts()) == {'fast', 'slow', 'notebook'}
