"""Portable numerics: the same seed gives the same bits on any x86-64 CPU
with AVX2, whatever thread count or oneDNN cap the environment asks for."""
import io
import json
import os
import subprocess
import sys

import pytest

from d2l_ncf import cli

from d2l_ncf.runtime import numerics
from d2l_ncf.runs.compare import numerics_report

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
AVX512 = {'sse4_1', 'avx', 'avx2', 'avx512f', 'avx512bw', 'avx512vl',
          'avx512dq'}
SMALL = ['--epochs', '2', '--batch-size', '32', '--num-factors', '4',
         '--hiddens', '4', '4', '--no-progress', '--seed', '1']


def test_portable_mode_overrides_the_users_settings_and_says_so_once():
    environ = {'OMP_NUM_THREADS': '8', 'DNNL_MAX_CPU_ISA': 'AVX512_CORE',
               'MXNET_SAFE_ACCUMULATION': '1', 'HOME': '/x'}
    told = io.StringIO()
    state = numerics.apply(environ, AVX512, told)
    assert state['mode'] == 'portable' and state['applied']
    assert environ['OMP_NUM_THREADS'] == '1'
    assert environ['OPENBLAS_NUM_THREADS'] == '1'
    assert environ['DNNL_MAX_CPU_ISA'] == 'AVX2'
    assert 'MXNET_SAFE_ACCUMULATION' not in environ
    assert environ['HOME'] == '/x'
    lines = told.getvalue().splitlines()
    assert len(lines) == 1
    assert 'OMP_NUM_THREADS=8' in lines[0]
    assert 'DNNL_MAX_CPU_ISA=AVX512_CORE' in lines[0]
    assert 'D2L_NCF_NUMERICS=native' in lines[0]
    assert state['overridden'] == {'OMP_NUM_THREADS': '8',
                                   'DNNL_MAX_CPU_ISA': 'AVX512_CORE',
                                   'MXNET_SAFE_ACCUMULATION': '1'}


def test_portable_mode_is_silent_when_nothing_is_overridden():
    environ = {}
    told = io.StringIO()
    numerics.apply(environ, AVX512, told)
    assert told.getvalue() == ''
    again = io.StringIO()
    numerics.apply(environ, AVX512, again)
    assert again.getvalue() == ''


def test_native_mode_leaves_the_environment_alone():
    environ = {'D2L_NCF_NUMERICS': 'native', 'OMP_NUM_THREADS': '8'}
    told = io.StringIO()
    state = numerics.apply(environ, AVX512, told)
    assert state['mode'] == 'native'
    assert environ == {'D2L_NCF_NUMERICS': 'native', 'OMP_NUM_THREADS': '8'}
    assert told.getvalue() == ''


def test_unknown_mode_is_named_and_portable_is_used():
    environ = {'D2L_NCF_NUMERICS': 'fast'}
    told = io.StringIO()
    state = numerics.apply(environ, AVX512, told)
    assert state['mode'] == 'portable'
    assert "D2L_NCF_NUMERICS='fast' is not a numerics mode" in \
        told.getvalue()


def test_a_cpu_without_avx2_is_told_its_numbers_will_differ():
    told = io.StringIO()
    numerics.apply({}, {'sse4_1', 'avx'}, told)
    assert 'this CPU has no AVX2 (best: AVX)' in told.getvalue()
    assert numerics.effective_isa('AVX2', {'sse4_1', 'avx'}) == 'AVX'
    assert numerics.effective_isa('AVX2', AVX512) == 'AVX2'
    assert numerics.effective_isa('AVX', AVX512) == 'AVX'
    assert numerics.effective_isa(None, AVX512) == 'AVX512_CORE'


def test_mxnet_loaded_first_is_reported_as_not_applied():
    told = io.StringIO()
    state = numerics.apply({}, AVX512, told, late=True)
    assert not state['applied']
    assert 'MXNet was imported before d2l_ncf' in told.getvalue()


def test_this_process_runs_portable_numerics():
    # conftest imports d2l_ncf before anything loads MXNet
    record = numerics.record()
    assert record['mode'] == 'portable' and record['applied_before_mxnet']
    assert record['omp_threads'] == 1
    assert os.environ['OMP_NUM_THREADS'] == '1'
    assert record['onednn'] and record['onednn'].count('.') == 2
    if 'avx2' in record['cpu_flags']:
        assert record['isa_in_use'] == 'AVX2'


def run_python(code, **env):
    environ = dict(os.environ, PYTHONPATH=REPO, **env)
    environ.pop('D2L_NCF_NUMERICS', None)
    environ.update(env)
    return subprocess.run([sys.executable, '-c', code], env=environ,
                          capture_output=True, text=True, timeout=120)


def test_importing_the_package_fixes_the_threads_a_user_set():
    code = ('import d2l_ncf.model, os; from d2l_ncf.runtime import numerics; '
            'print(os.environ["OMP_NUM_THREADS"], numerics.omp_threads())')
    done = run_python(code, OMP_NUM_THREADS='4')
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ['1', '1']
    assert done.stderr.count('portable numerics override OMP_NUM_THREADS=4') \
        == 1
    done = run_python(code, OMP_NUM_THREADS='4', D2L_NCF_NUMERICS='native')
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ['4', '4']
    assert 'override' not in done.stderr


@pytest.mark.parametrize('module', ['model', 'losses', 'data', 'cli'])
def test_any_module_imported_first_fixes_numerics_before_mxnet(module):
    # the package imports its names lazily (issue 15): whichever module
    # loads MXNet, the package's numerics ran before, and MXNet's NumPy
    # interface is on as soon as MXNet is loaded
    code = (f'import d2l_ncf.{module}, sys; from d2l_ncf.runtime import numerics; '
            f'loaded = "mxnet" in sys.modules; import mxnet; '
            f'print(loaded, mxnet.util.is_np_array(), '
            f'numerics.record()["applied_before_mxnet"])')
    done = run_python(code, OMP_NUM_THREADS='3')
    assert done.returncode == 0, done.stderr
    # cli loads no MXNet; MXNet imported by hand is the caller's (legacy)
    expected = ['False', 'False'] if module == 'cli' else ['True', 'True']
    assert done.stdout.split() == expected + ['True']
    assert 'MXNet was imported before d2l_ncf' not in done.stderr


def test_every_module_that_imports_mxnet_imports_our_mxnet_first():
    # `_mxnet` turns on MXNet's NumPy interface (and names the extra to
    # install); a module loading MXNet or d2l without it first could run
    # the chapter's code on legacy arrays
    import ast
    import pathlib
    folder = pathlib.Path(REPO, 'd2l_ncf')
    for path in sorted(folder.rglob('*.py')):
        name = str(path.relative_to(folder))
        if path.name in ('_mxnet.py', 'chapter.py'):  # chapter.py: as
            continue  # printed, with npx.set_np(); the package loads first
        tree = ast.parse(path.read_text())
        ours = False
        for node in tree.body:  # module level only: lazy imports may wait
            if isinstance(node, ast.ImportFrom) and node.level and any(
                    a.name == '_mxnet' for a in node.names):
                ours = True
            heavy = ([a.name for a in node.names]
                     if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom)
                     and node.level == 0 else [])
            if any(h.split('.')[0] in ('mxnet', 'd2l') for h in heavy):
                assert ours, f'{name} imports {heavy} before _mxnet'


def test_numerics_native_on_the_command_line_restarts_in_native_mode(
        synthetic_dir, tmp_path):
    # the restart sees the user's environment, not the one portable mode
    # set before it (issue 23: it ran with 1 thread and the AVX2 cap)
    out = tmp_path / 'native'
    environ = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='3')
    for name in ('D2L_NCF_NUMERICS', 'DNNL_MAX_CPU_ISA',
                 'MXNET_OMP_MAX_THREADS'):
        environ.pop(name, None)
    done = subprocess.run(
        [sys.executable, '-m', 'd2l_ncf', 'train', '--numerics', 'native',
         '--data-dir', synthetic_dir, '--out', str(out)] + SMALL,
        env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('train loss') == 1
    record = json.loads((out / 'metrics.json').read_text())
    assert record['numerics']['mode'] == 'native'
    assert record['numerics']['omp_threads'] == 3
    assert record['numerics']['isa_cap'] is None
    assert record['numerics']['environment']['OMP_NUM_THREADS'] == '3'
    assert 'portable numerics override' not in done.stderr


def test_numerics_native_cannot_switch_a_running_process(usage_error,
                                                         synthetic_dir):
    usage_error(['train', '--numerics', 'native', '--data-dir',
                 synthetic_dir] + SMALL,
                'set D2L_NCF_NUMERICS=native before it starts')


def test_compare_lists_numerics_first_and_says_a_drift_is_expected():
    base = {'mode': 'portable', 'isa_in_use': 'AVX2', 'omp_threads': 1,
            'openblas_threads': '1', 'onednn': '2.4.4',
            'applied_before_mxnet': True, 'environment': {}}
    native = dict(base, mode='native', omp_threads=8,
                  isa_in_use='AVX512_CORE')
    lines = numerics_report({'numerics': native}, {'numerics': base})
    text = '\n'.join(lines)
    assert lines[0].startswith('Numerics that differ')
    assert 'omp_threads: 8 vs 1' in text
    assert 'mode: native vs portable' in text
    assert 'isa_in_use: AVX512_CORE vs AVX2' in text
    assert 'expected' in text
    same = '\n'.join(numerics_report({'numerics': base},
                                     {'numerics': dict(base)}))
    assert 'bit-identical' in same and 'real change' in same
    old = '\n'.join(numerics_report({'numerics': base}, {}))
    assert 'mode: portable vs unknown' in old


def test_compare_prints_the_numerics_before_the_metrics(synthetic_dir,
                                                        tmp_path, capsys):
    out = tmp_path / 'run'
    assert cli.main(['train', '--data-dir', synthetic_dir, '--out',
                     str(out)] + SMALL) == 0
    record = json.loads((out / 'metrics.json').read_text())
    record['numerics']['omp_threads'] = 8
    other = tmp_path / 'other.json'
    other.write_text(json.dumps(record))
    capsys.readouterr()
    assert cli.main(['compare', str(other), str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.index('omp_threads: 8 vs 1') < printed.index('epoch 1')


# The recipe's wide layers for two epochs: its arithmetic is what moved
# between CPUs (tests/runs/test_recipe.py), the chapter's small layers did not.
WIDE = ['--protocol', 'corrected', '--eval', 'sampled', '--loss', 'log',
        '--num-neg', '16', '--num-factors', '64', '--hiddens', '64', '32',
        '16', '--lr', '0.002', '--batch-size', '1024', '--wd', '0',
        '--reg', '0.001', '--recency', '5', '--recency-tau', '10',
        '--epochs', '2', '--devices', 'cpu', '--seed', '0', '--no-progress']


def wide_history(data_dir, tmp_path, name, **env):
    out = tmp_path / name
    environ = dict(os.environ, PYTHONPATH=REPO)
    for key in ('D2L_NCF_NUMERICS', 'OMP_NUM_THREADS', 'DNNL_MAX_CPU_ISA'):
        environ.pop(key, None)
    environ.update(env)
    done = subprocess.run(
        [sys.executable, '-m', 'd2l_ncf', 'train', '--data-dir', data_dir,
         '--out', str(out)] + WIDE,
        env=environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    record = json.loads((out / 'metrics.json').read_text())
    return [(row['loss'], row['hit_rate'], row['ndcg'])
            for row in record['history']], record['numerics']


@pytest.mark.slow
def test_portable_runs_are_bit_identical_across_threads_and_isa_caps(
        real_data_dir, tmp_path):
    model, flags = numerics.cpu_info()
    if numerics.best_isa(flags) not in ('AVX2', 'AVX512_CORE'):
        pytest.skip(f'{model} has no AVX2: portable mode cannot reach its '
                    f'baseline here')
    base, record = wide_history(real_data_dir, tmp_path, 'base',
                                OMP_NUM_THREADS='1',
                                DNNL_MAX_CPU_ISA='AVX2')
    assert record['mode'] == 'portable' and record['omp_threads'] == 1
    # as a user would set them: each is overridden, none moves a bit
    for name, env in (('threads2_avx', {'OMP_NUM_THREADS': '2',
                                        'DNNL_MAX_CPU_ISA': 'AVX'}),
                      ('threads4_avx2', {'OMP_NUM_THREADS': '4',
                                         'DNNL_MAX_CPU_ISA': 'AVX2'})):
        history, record = wide_history(real_data_dir, tmp_path, name, **env)
        assert record['mode'] == 'portable'
        assert history == base, name
    # native leaves them to the environment: the last bits move
    native, record = wide_history(
        real_data_dir, tmp_path, 'native', D2L_NCF_NUMERICS='native',
        OMP_NUM_THREADS='4', DNNL_MAX_CPU_ISA='AVX')
    assert record['mode'] == 'native' and record['omp_threads'] == 4
    assert record['isa_in_use'] == 'AVX'
    assert native != base
    assert native[0][0] == pytest.approx(base[0][0], rel=1e-6)
