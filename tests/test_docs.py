"""The commands README.md and docs/ show are the ones the scripts run,
their links resolve, and their figures are the committed JSON's."""
import os
import re
import shlex
import sys

from d2l_ncf import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'experiments'))

import recipe  # noqa: E402


DOCS = ['README.md', 'tests/README.md'] + sorted(
    os.path.join('docs', name) for name in os.listdir(os.path.join(REPO,
                                                                   'docs'))
    if name.endswith('.md'))


def read(path):
    with open(os.path.join(REPO, path), encoding='utf-8') as f:
        return f.read()


def readme_commands():
    text = '\n'.join(read(path) for path in DOCS)
    blocks = re.findall(r'```bash\n(.*?)```', text, re.S)
    commands = []
    for block in blocks:
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split('#')[0].strip()
            if line.startswith('d2l-ncf '):
                commands.append(shlex.split(line)[1:])
    return commands


def test_the_readme_recipe_is_the_one_measured():
    recipes = [c for c in readme_commands()
               if '--reg' in c and '--eval' in c]
    assert len(recipes) == 1
    assert recipes[0] == ['train'] + recipe.RECIPE + ['--seed', '0']


def test_every_readme_command_parses():
    parser = cli.build_parser()
    commands = readme_commands()
    assert len(commands) >= 8
    for argv in commands:
        parser.parse_args(argv)


def test_validation_data_holds_out_the_second_latest(tmp_path):
    import validation
    from d2l_ncf.data import load_chapter_data
    from synthetic import make_ratings, write_udata
    rows = make_ratings()
    source = write_udata(tmp_path / 'full', rows)
    kept = validation.write_validation_data(source, str(tmp_path / 'val'))
    users = {r[0] for r in rows}
    assert kept == len(rows) - len(users)
    # each user's rows by time: the latest is gone, the one before it is
    # the new held-out item
    by_user = {}
    for u, i, _, t in rows:
        by_user.setdefault(u, []).append((t, i))
    data = load_chapter_data(str(tmp_path / 'val'))
    for index, (item,) in data.test_iter.items():
        history = sorted(by_user[int(data.user_ids[index])])
        assert int(data.item_ids[item]) == history[-2][1]
    assert validation.without_recency(
        ['--lr', '1', '--recency', '5', '--recency-tau', '20', '--k', '3']
    ) == ['--lr', '1', '--k', '3']


def anchors(text):
    """The anchors GitHub gives a page's headings."""
    found = set()
    for heading in re.findall(r'^#+ (.*)$', text, re.M):
        slug = re.sub(r'[^\w\- ]', '', heading.lower()).replace(' ', '-')
        found.add(slug)
    return found


def test_anchors_follow_githubs_rule():
    assert anchors('## 1. The size\n### Several processes: MXNet\'s (`x`)') \
        == {'1-the-size', 'several-processes-mxnets-x'}


def test_every_relative_link_in_the_docs_resolves():
    """Each link to a file names one that exists, and its #anchor, if
    any, one of that page's headings."""
    broken = []
    for path in DOCS:
        folder = os.path.dirname(os.path.join(REPO, path))
        for target, anchor in re.findall(r'\]\(([^)#:]*)(?:#([^)]*))?\)',
                                         read(path)):
            file = os.path.join(folder, target) if target else \
                os.path.join(REPO, path)
            if not os.path.exists(file):
                broken.append(f'{path}: {target}')
            elif anchor and file.endswith('.md'):
                with open(file, encoding='utf-8') as f:
                    if anchor not in anchors(f.read()):
                        broken.append(f'{path}: {target}#{anchor}')
    assert not broken


def test_scaling_shows_the_measured_figures():
    """docs/ARCHITECTURE.md's loopback tables are bench_dist's committed
    figures: every run's examples/s, step and computing ms appear as the
    JSON has them, and no communication figure is negative."""
    import json
    text = read('docs/ARCHITECTURE.md')
    missing = []
    for name in ('results_dist.json', 'results_dist_m1.json'):
        with open(os.path.join(REPO, 'benchmarks', name)) as f:
            runs = json.load(f)['runs']
        for run in runs:
            assert run['communication_ms'] >= 0, (name, run)
            row = (f"| {round(run['examples_per_sec']):,} "
                   f"| {run['step_ms']:.1f} | {run['compute_ms']:.1f} "
                   f"| {run['communication_ms']:.1f}")
            if row not in text:
                missing.append(f'{name}: {row}')
    assert not missing
