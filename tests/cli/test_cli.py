import json
import os
import subprocess
import sys

import matplotlib.image
import pytest

from d2l_ncf import cli
from synthetic import make_ratings, write_udata

SMALL = ['--epochs', '2', '--batch-size', '32', '--num-factors', '4',
         '--hiddens', '4', '4', '--no-progress']


def test_train_end_to_end_writes_metrics_and_plot(synthetic_dir, tmp_path,
                                                  capsys):
    out = tmp_path / 'run'
    code = cli.main(['train', '--data-dir', synthetic_dir, '--devices',
                     'cpu:2', '--out', str(out), '--seed', '5'] + SMALL)
    assert code == 0
    stdout = capsys.readouterr().out.strip().splitlines()
    assert stdout[-2].startswith('train loss ')
    assert stdout[-1].endswith('examples/sec on [cpu(0), cpu(1)]')
    record = json.loads((out / 'metrics.json').read_text())
    assert set(record) == {'config', 'data', 'versions', 'numerics',
                           'history', 'final'}
    assert record['numerics']['mode'] == 'portable'
    assert record['data']['interactions'] == len(make_ratings())
    config = record['config']
    assert config['seed'] == 5 and config['num_epochs'] == 2
    assert config['resolved_devices'] == ['cpu(0)', 'cpu(1)']
    assert config['nums_hiddens'] == [4, 4]
    assert set(record['versions']) >= {'python', 'mxnet', 'd2l', 'numpy'}
    assert [r['epoch'] for r in record['history']] == [1, 2]
    assert all({'loss', 'hit_rate', 'auc'} <= set(r)
               for r in record['history'])
    assert set(record['final']) == {'loss', 'hit_rate', 'auc',
                                    'examples_per_sec', 'examples',
                                    'train_seconds', 'eval_seconds',
                                    'tie_share'}
    assert 0 <= record['final']['tie_share'] <= 1
    assert stdout[-2] == (
        f"train loss {record['final']['loss']:.3f}, test hit rate "
        f"{record['final']['hit_rate']:.3f}, test AUC "
        f"{record['final']['auc']:.3f}")
    image = matplotlib.image.imread(str(out / 'curves.png'))
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert '<Figure' not in ''.join(stdout)


def test_out_folder_is_not_overwritten(synthetic_dir, tmp_path, capsys):
    out = tmp_path / 'run'
    out.mkdir()
    (out / 'metrics.json').write_text('{"keep": true}')
    code = cli.main(['train', '--data-dir', synthetic_dir, '--out',
                     str(out)] + SMALL)
    assert code == 1
    assert 'already holds metrics.json' in capsys.readouterr().err
    assert (out / 'metrics.json').read_text() == '{"keep": true}'


@pytest.mark.parametrize('args, message', [
    (['--epochs', '0'], 'expected a whole number >= 1'),
    (['--lr', '-0.1'], 'expected a number > 0'),
    (['--devices', 'gpu:3'], 'gpu [3]'),
    (['--devices', 'tpu'], 'unknown device spec'),
    (['--devices', 'cpu:3'], 'does not split evenly over 3 devices'),
    (['--loss', 'mse'], 'invalid choice'),
    (['--optimizer', 'nosuchopt'], 'unknown optimizer'),
    (['--protocol', 'paper'], 'invalid choice'),
    (['--reg', '0.01'], 'no --reg, --ema or --recency'),
    (['--reg', '-1'], 'expected a number >= 0'),
    (['--ema', '0.9'], 'no --reg, --ema or --recency'),
    (['--ema', '1'], 'expected a number >= 0 and < 1'),
    (['--dataset', 'ml-10m'], 'invalid choice'),
    (['--data', 'x.csv', '--columns', 'user,rating'],
     'columns must name user and item'),
    # found by the new-user pass: one option silently beat the other
    (['--data', 'x.csv', '--dataset', 'ml-1m'],
     '--data reads a file of interactions and --dataset names'),
    (['--data', 'x.csv', '--data-dir', 'ml'],
     '--data reads a file of interactions and --data-dir names'),
    (['--num-workers', '2'], "--num-workers 2 sets the DataLoader processes "
                             "of the chapter's PRDataset (--reference)"),
    # typed alone, or with what they need, they are no conflict: the
    # devices, checked after, are what is refused
    (['--data', 'x.csv', '--devices', 'tpu'], 'unknown device spec'),
    (['--num-workers', '2', '--reference', '--devices', 'tpu'],
     'unknown device spec'),
    (['--num-workers', '0', '--devices', 'tpu'], 'unknown device spec'),
])
def test_bad_options_are_usage_errors(args, message, usage_error):
    usage_error(['train'] + args, message)


@pytest.mark.parametrize('args, message', [
    (['--protocol', 'corrected', '--k', '41'],
     '--k 41 is larger than the 40 items'),
    (['--protocol', 'corrected', '--eval', 'sampled'],
     'needs 99 unseen items per user'),
    (['--batch-size', '500'], 'larger than the 168 training interactions'),
])
def test_options_too_large_for_the_data_stop_before_training(
        synthetic_dir, tmp_path, args, message, usage_error):
    captured = usage_error(['train', '--data-dir', synthetic_dir, '--out',
                            str(tmp_path / 'run')] + SMALL + args, message)
    assert 'train loss' not in captured.out
    assert not (tmp_path / 'run').exists()


def test_single_interaction_users_are_counted_in_the_record(tmp_path,
                                                           capsys):
    rows = make_ratings() + [(25, 3, 4, 999999999)]
    folder = write_udata(tmp_path / 'data', rows)
    assert cli.main(['train', '--data-dir', folder, '--out',
                     str(tmp_path / 'run')] + SMALL) == 0
    record = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert record['data']['excluded_users'] == 1
    assert record['data']['test_users'] == 24
    assert '1 user with a single interaction left out of evaluation' in (
        capsys.readouterr().err)


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    code = cli.main(['train', '--data-dir', str(tmp_path)] + SMALL)
    assert code == 2  # a data error, as a usage error is
    err = capsys.readouterr().err
    assert 'u.data not found' in err and str(tmp_path) in err


def test_console_script_and_module_run(synthetic_dir, tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), 'd2l-ncf')
    for command in ([script], [sys.executable, '-m', 'd2l_ncf']):
        done = subprocess.run(
            command + ['train', '--data-dir', synthetic_dir, '--epochs', '1',
                       '--batch-size', '32', '--devices', 'cpu'],
            capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1].endswith(
            'examples/sec on [cpu(0)]')
        assert 'train' in done.stderr  # the progress bar


def test_import_without_mxnet_names_the_extra(tmp_path):
    # `import d2l_ncf` alone loads no MXNet; the first name that needs it
    # says how to install it, and the command line says it in one line
    code = ("import sys; sys.modules['mxnet'] = None\n"
            "import d2l_ncf\n"
            "try:\n    from d2l_ncf import NeuMF\n"
            "except ImportError as err:\n    print(err)\n")
    done = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=120)
    assert "pip install 'd2l_ncf[cpu]'" in done.stdout
    assert "d2l_ncf[gpu]" in done.stdout
    code = ("import sys; sys.modules['mxnet'] = None\n"
            "from d2l_ncf import cli\n"
            "sys.exit(cli.main(sys.argv[1:]))\n")
    done = subprocess.run(
        [sys.executable, '-c', code, 'train', '--data-dir', str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "d2l-ncf: error: d2l_ncf needs MXNet 1.9.1" in done.stderr
    assert 'Traceback' not in done.stderr


def test_launch_help_prints_help_without_the_train_command(capsys):
    # found by the new-user pass: `launch --help` asked for '--' first
    with pytest.raises(SystemExit) as info:
        cli.main(['launch', '--help'])
    assert info.value.code == 0
    assert 'usage: d2l-ncf launch' in capsys.readouterr().out


def test_an_empty_separator_is_a_usage_error_of_train(tmp_path, capsys):
    data = tmp_path / 'r.csv'
    data.write_text('user,item\n1,2\n')
    with pytest.raises(SystemExit) as info:
        cli.main(['train', '--protocol', 'corrected', '--data', str(data),
                  '--sep', ''])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert 'd2l-ncf train: error:' in err and 'separator' in err


@pytest.mark.parametrize('args, code, text', [
    (['--help'], 0, 'usage: d2l-ncf'),
    (['train', '--help'], 0, 'usage: d2l-ncf train'),
    (['exercise', '--help'], 0, 'usage: d2l-ncf exercise'),
    (['recommend', '--help'], 0, 'usage: d2l-ncf recommend'),
    (['compare', '--help'], 0, 'usage: d2l-ncf compare'),
    (['launch', '--help'], 0, 'usage: d2l-ncf launch'),
    (['train', '--lr', '-1'], 2, 'argument --lr: expected a number > 0'),
    (['train', '--bogus'], 2, 'unrecognized arguments: --bogus'),
    (['train', '--optimizer', 'nosuchopt'], 2, 'unknown optimizer'),
    (['train', '--data', 'r.csv', '--dataset', 'ml-1m'], 2,
     '--data reads a file'),
    (['exercise', 'nosuch', '--values', '1'], 2, 'invalid choice'),
    (['exercise', 'factors', '--values', 'four'], 2, 'a whole number'),
    (['ablation', '--protocol', 'book'], 2, 'the corrected protocol'),
    (['ablation', '--out', ''], 2, "--out '': expected a folder name"),
    (['train', '--model', 'mf', '--protocol', 'book'], 2,
     "the book protocol is the chapter's NeuMF"),
])
def test_help_and_usage_errors_import_no_mxnet_nor_d2l(args, code, text,
                                                       tmp_path):
    # issue 15: --help and usage errors answer without loading MXNet or
    # d2l (1.5 s here); -X importtime lists every module a process loads
    done = subprocess.run(
        [sys.executable, '-X', 'importtime', '-m', 'd2l_ncf'] + args,
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == code, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    loaded = {line.split('|')[-1].strip() for line in lines
              if line.startswith('import time:')}
    assert 'd2l_ncf.cli' in loaded  # the listing works
    assert not {m for m in loaded if m.split('.')[0] in ('mxnet', 'd2l')}
    said = done.stdout + '\n'.join(
        line for line in lines if not line.startswith('import time:'))
    assert text in said
    assert 'Traceback' not in said


def test_name_lists_equal_the_tables_they_stand_for():
    # config, checks and cli keep these names so that parsing needs no
    # MXNet; they must not drift from the tables themselves
    import mxnet as mx
    from d2l_ncf import losses
    from d2l_ncf.datasets import movielens
    from d2l_ncf.engine import optimizers
    from d2l_ncf.runs import config
    assert config.LOSS_NAMES == tuple(losses.LOSSES)
    assert sorted(config.DATASETS) == sorted(movielens.DATASETS)
    builtin = {name for name, kind in mx.optimizer.Optimizer.opt_registry
               .items() if kind.__module__.startswith('mxnet.')}
    assert set(optimizers.MXNET_OPTIMIZERS) == builtin
    assert optimizers.LAZY_OPTIMIZERS is config.LAZY_OPTIMIZERS


def test_an_optimizer_registered_later_is_found_in_mxnet(monkeypatch):
    import mxnet as mx
    from d2l_ncf.engine.optimizers import is_optimizer
    monkeypatch.setitem(mx.optimizer.Optimizer.opt_registry, 'myopt',
                        mx.optimizer.SGD)
    assert is_optimizer('MyOpt') and is_optimizer('adam')
    assert not is_optimizer('nosuchopt')


def test_lazy_package_names_and_the_recommend_function():
    import d2l_ncf
    import d2l_ncf.runs.recommending  # the module has its own name
    assert callable(d2l_ncf.recommend) and not isinstance(
        d2l_ncf.recommend, type(d2l_ncf))
    for name in d2l_ncf.__all__:
        assert getattr(d2l_ncf, name) is not None
    assert set(d2l_ncf.__all__) <= set(dir(d2l_ncf))
    with pytest.raises(AttributeError):
        d2l_ncf.no_such_name


def test_ctrl_c_while_the_script_loads_is_one_line():
    # found by the new-user pass: the console script imported the command
    # line before any guard, so a Ctrl-C in its first 0.2 s printed a
    # 29-line KeyboardInterrupt traceback. The script's entry point now
    # loads it under the same guard as `python -m d2l_ncf`. The signal
    # comes at a fixed point (the command line's import), not after a
    # sleep: the test does not depend on the machine's speed.
    code = (
        'import builtins, os, signal, sys\n'
        'real = builtins.__import__\n'
        'def hook(name, *args, **kwargs):\n'
        '    if name == "cli" and not getattr(hook, "done", False):\n'
        '        hook.done = True\n'
        '        os.kill(os.getpid(), signal.SIGINT)\n'
        '    return real(name, *args, **kwargs)\n'
        'builtins.__import__ = hook\n'
        'from d2l_ncf.__main__ import main\n'
        'sys.argv = ["d2l-ncf", "train", "--no-progress"]\n'
        'sys.exit(main())\n')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=120)
    assert 'Traceback' not in done.stderr, done.stderr
    assert done.returncode == 130, (done.returncode, done.stderr)
    assert done.stderr.strip() == 'd2l-ncf: stopped by SIGINT'


def test_ctrl_c_while_mxnet_loads_is_one_line(monkeypatch, capsys):
    # the same while the command imports MXNet and the data: a
    # KeyboardInterrupt raised there, as the guard's handler raises it
    import d2l_ncf.runs.run as run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(run, 'train', interrupted)
    assert cli.main(['train', '--no-progress', '--devices', 'cpu']) == 130
    assert capsys.readouterr().err == 'd2l-ncf: stopped by SIGINT\n'


@pytest.mark.parametrize('argv, option', [
    (['train', '--out', ''], '--out'), (['train', '--save', ''], '--save'),
    (['train', '--resume', ''], '--resume'),
    (['exercise', 'factors', '--values', '4', '--out', ''], '--out'),
    (['ablation', '--out', ''], '--out')])
def test_an_empty_folder_name_is_refused_before_any_work(
        argv, option, usage_error, monkeypatch):
    # issue 32: `--out ''` passed the first check and failed after
    # training; `train --save ''` saved nothing and exited 0
    import d2l_ncf.runs.run as run
    monkeypatch.setattr(run, 'train', None)  # never reached
    usage_error(argv + ['--devices', 'cpu'],
                f"{option} '': expected a folder name")
