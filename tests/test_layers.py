"""The package's layers, read from its source (docs/ARCHITECTURE.md).

Every import in d2l_ncf, at the top of a module or inside a function,
goes down the layers or stays in its own: runtime < datasets < engine <
the section (the top-level modules) < runs < cli. No import circle,
lazy imports included.
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
    # layer, and a circle such as the config <-> checks one once was
    bad = {'d2l_ncf.corrected': {'d2l_ncf.runs.run'},
           'd2l_ncf.runs.config': {'d2l_ncf.runs.checks'},
           'd2l_ncf.runs.checks': {'d2l_ncf.runs.config'}}
    assert upward(bad) == [('d2l_ncf.corrected', 'd2l_ncf.runs.run')]
    assert circles(bad) == [['d2l_ncf.runs.checks', 'd2l_ncf.runs.config',
                             'd2l_ncf.runs.checks']]
    assert 'd2l_ncf.runs.checkpoint' in GRAPH['d2l_ncf.cli']  # lazy


def test_the_top_level_is_the_section():
    top = sorted(p.stem for p in PACKAGE.glob('*.py'))
    for section in ('chapter', 'book', 'corrected', 'model', 'data',
                    'losses', 'metrics', 'evaluation', 'protocol'):
        assert section in top
