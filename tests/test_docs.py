"""The commands README.md shows are the ones the scripts run."""
import os
import re
import shlex
import sys

from d2l_ncf import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'experiments'))

import recipe  # noqa: E402


def readme_commands():
    with open(os.path.join(REPO, 'README.md')) as f:
        text = f.read()
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
