"""The package's layers, read from its source (docs/ARCHITECTURE.md).

Every import in d2l_ncf, at the top of a module or inside a function,
goes down the layers or stays in its own: runtime < datasets < engine <
the section (the top-level modules) < runs < cli. No import circle,
lazy imports included; the top level stays the chapter's size.
"""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'd2l_ncf'
# Each sub-package's layer; the section's modules sit at the top level.
LAYERS = {'runtime': 0, 'datasets': 1, 'engine': 2, '': 3, 'runs': 4,
          'cli': 5}
FACADE = ('d2l_ncf', 'd2l_ncf.__main__')  # the package's doors


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob('*.py'))}


def is_package(name):
    return MODULES[name].name == '__init__.py'


def imports_of(name):
    """Every d2l_ncf module `name` imports, wherever the import sits."""
    base = name if is_package(name) else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names
                      if a.name.split('.')[0] == 'd2l_ncf'}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split('.')
                anchor = anchor[:len(anchor) - node.level + 1]
                target = '.'.join(anchor + ([node.module] if node.module
                                            else []))
            elif (node.module or '').split('.')[0] == 'd2l_ncf':
                target = node.module
            else:
                continue
            for alias in node.names:  # a name may be a submodule
                sub = f'{target}.{alias.name}'
                found.add(sub if sub in MODULES else target)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def layer(name):
    """A sub-package's layer, or the section's for a top-level module."""
    return LAYERS.get(name.split('.')[1], LAYERS[''])


def test_every_import_names_a_module_of_the_package():
    # an old flat path (d2l_ncf.sampling) left behind would fail here
    missing = {(m, t) for m, targets in GRAPH.items() for t in targets
               if t not in MODULES}
    assert not missing


def upward(graph):
    """The imports of `graph` that go up a layer: (importer, imported)."""
    return sorted((m, t) for m, targets in graph.items() for t in targets
                  if layer(t) > layer(m))


def circles(graph):
    """The import circles of `graph`, each as a path back to its start."""
    state, found = {}, []

    def visit(node, path):
        state[node] = 'open'
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 'open':
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 'done'

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


# the graph without the package's doors, which import from every layer
INNER = {m: GRAPH[m] - set(FACADE) for m in MODULES if m not in FACADE}


def test_imports_go_down_the_layers():
    assert upward(INNER) == []


def test_no_import_circle():
    assert circles(INNER) == []


def test_the_checks_find_an_upward_import_and_a_circle():
    # e.g. the section reaching up for the progress bar of the runs
    # layer, and the config <-> checks circle this layout removed
    bad = {'d2l_ncf.training': {'d2l_ncf.runs.run'},
           'd2l_ncf.runs.config': {'d2l_ncf.runs.checks'},
           'd2l_ncf.runs.checks': {'d2l_ncf.runs.config'}}
    assert upward(bad) == [('d2l_ncf.training', 'd2l_ncf.runs.run')]
    assert circles(bad) == [['d2l_ncf.runs.checks', 'd2l_ncf.runs.config',
                             'd2l_ncf.runs.checks']]
    assert 'd2l_ncf.runs.checkpoint' in GRAPH['d2l_ncf.cli.commands']  # lazy


def test_the_top_level_is_the_section():
    top = sorted(p.stem for p in PACKAGE.glob('*.py'))
    assert len(top) <= 12, top
    for section in ('model', 'data', 'losses', 'metrics', 'evaluation',
                    'training', 'protocol'):
        assert section in top


def test_the_old_flat_names_give_the_moved_modules():
    # code written before the layout (the notebooks: `from
    # d2l_ncf.sampling import ...`) gets the module itself, not a copy
    import importlib
    import d2l_ncf
    for old, new in d2l_ncf._MOVED.items():
        module = importlib.import_module(f'd2l_ncf.{old}')
        assert module is importlib.import_module(f'd2l_ncf.{new}')
        assert module.__spec__.name == f'd2l_ncf.{new}'
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module('d2l_ncf.no_such_module')


def test_train_ranking_keeps_the_chapters_shape():
    # the chapter's 13 parameters plus at most two, and a body a student
    # can hold beside the chapter's 28 lines: what grew goes in the hooks
    tree = ast.parse(MODULES['d2l_ncf.training'].read_text())
    loop = next(f for f in tree.body if isinstance(f, ast.FunctionDef)
                and f.name == 'train_ranking')
    names = [a.arg for a in loop.args.args + loop.args.kwonlyargs]
    assert names[:13] == [
        'net', 'train_iter', 'test_iter', 'loss', 'trainer',
        'test_seq_iter', 'num_users', 'num_items', 'num_epochs', 'devices',
        'evaluator', 'candidates', 'eval_step']
    assert len(names) <= 15
    body = loop.body[1:]  # after the docstring
    assert body[-1].end_lineno - body[0].lineno + 1 <= 50


# Over 300 lines: none (metrics and compare were split once issue 23's
# ties landed: engine/ranking.py, runs/compare_report.py).
LONG_FOR_NOW = {'d2l_ncf.engine.step'}  # issue 34's step (issue 31: no
# line budgets any more)


def test_every_module_reads_in_one_sitting():
    # issue 24: no module over 300 lines (split by concern instead)
    sizes = {name: len(path.read_text().splitlines())
             for name, path in MODULES.items()}
    long = {n for n, size in sizes.items() if size > 300}
    assert long == LONG_FOR_NOW  # a split one leaves the list
