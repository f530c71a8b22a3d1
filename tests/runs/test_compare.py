import copy
import json

import pytest

from d2l_ncf import cli

RECORD = {
    'config': {'seed': 0, 'devices': 'cpu', 'protocol': 'corrected',
               'command': ['x']},
    'versions': {'mxnet': '1.9.1'},
    'history': [{'epoch': 1, 'loss': 0.5},
                {'epoch': 2, 'loss': 0.4, 'hit_rate': 0.30, 'auc': 0.80}],
    'final': {'loss': 0.4, 'hit_rate': 0.30, 'auc': 0.80,
              'train_seconds': 1.0},
}


def write(tmp_path, name, record):
    path = tmp_path / name
    path.write_text(json.dumps(record))
    return str(path)


def run_compare(*args):
    return cli.main(['compare'] + [str(a) for a in args])


def test_identical_runs_pass(tmp_path, capsys):
    ref = write(tmp_path, 'ref.json', RECORD)
    run = tmp_path / 'run'
    run.mkdir()
    write(run, 'metrics.json', RECORD)  # a folder works too
    assert run_compare(run, ref) == 0
    out = capsys.readouterr().out
    assert '7 of 7 values within' in out  # epoch 1: 1, epoch 2: 3, final 3
    assert 'Settings that differ' not in out
    assert 'train_seconds' not in out  # timings are not compared


def test_drift_fails_and_is_shown(tmp_path, capsys):
    ref = write(tmp_path, 'ref.json', RECORD)
    moved = copy.deepcopy(RECORD)
    moved['history'][1]['auc'] = 0.81
    moved['final']['auc'] = 0.81
    run = write(tmp_path, 'run.json', moved)
    assert run_compare(run, ref) == 1
    out = capsys.readouterr().out
    assert 'epoch 2    auc' in out and 'NO' in out
    assert '2 drifted' in out
    # ... and passes with a tolerance that admits 0.01
    assert run_compare(run, ref, '--atol', '0.011') == 0
    assert run_compare(run, ref, '--rtol', '0.02') == 0
    assert run_compare(run, ref, '--metrics', 'loss', 'hit_rate') == 0


def test_missing_epoch_is_drift(tmp_path, capsys):
    ref = write(tmp_path, 'ref.json', RECORD)
    short = copy.deepcopy(RECORD)
    short['history'] = short['history'][:1]
    assert run_compare(write(tmp_path, 'run.json', short), ref) == 1
    assert 'missing' in capsys.readouterr().out


def test_config_differences_are_listed(tmp_path, capsys):
    ref = write(tmp_path, 'ref.json', RECORD)
    other = copy.deepcopy(RECORD)
    other['config'].update(seed=1, devices='cpu:2', command=['y'])
    other['versions']['mxnet'] = '1.9.0'
    assert run_compare(write(tmp_path, 'run.json', other), ref) == 0
    out = capsys.readouterr().out
    assert 'config.seed: 1 vs 0' in out
    assert 'config.devices: cpu:2 vs cpu' in out
    assert 'versions.mxnet: 1.9.0 vs 1.9.1' in out
    assert 'config.command' not in out


@pytest.mark.parametrize('text, message', [
    ('{"history": [', 'line 1: not valid JSON'),
    ('[1, 2]', 'expected a d2l-ncf metrics.json'),
    ('{"history": [{"loss": 1}], "final": {}}', 'without "epoch"'),
])
def test_unreadable_input_exits_2(tmp_path, capsys, text, message):
    ref = write(tmp_path, 'ref.json', RECORD)
    bad = tmp_path / 'bad.json'
    bad.write_text(text)
    assert run_compare(bad, ref) == 2
    err = capsys.readouterr().err
    assert message in err and str(bad) in err


def test_missing_file_exits_2(tmp_path, capsys):
    ref = write(tmp_path, 'ref.json', RECORD)
    assert run_compare(tmp_path / 'nowhere', ref) == 2
    assert 'no such file' in capsys.readouterr().err


def test_nothing_in_common_exits_2(tmp_path, capsys):
    ref = write(tmp_path, 'ref.json', RECORD)
    other = {'history': [{'epoch': 7}], 'final': {'x': 1}}
    assert run_compare(write(tmp_path, 'run.json', other), ref) == 2
    assert 'share no epoch' in capsys.readouterr().err


def test_a_setting_one_record_lacks_is_listed_apart_not_as_a_difference(
        tmp_path, capsys):
    # found by the new-user pass: keys newer than an old reference (e.g.
    # kvstore, workers) showed as differences, against invented defaults
    newer = copy.deepcopy(RECORD)
    newer['config'].update(reg=0.01, kvstore='device', workers=1)
    older = copy.deepcopy(RECORD)
    older['config']['seed'] = 3
    older['versions']['pandas'] = '1.5.3'
    assert run_compare(write(tmp_path, 'new.json', newer),
                       write(tmp_path, 'old.json', older)) == 0
    out = capsys.readouterr().out
    assert 'Settings that differ (run vs reference):\n  config.seed: 0 ' \
           'vs 3\n\n' in out  # the only difference
    assert ('Recorded only in the run (absent from the other, so not '
            'compared): config.kvstore = device, config.reg = 0.01, '
            'config.workers = 1\n') in out
    assert ('Recorded only in the reference (absent from the other, so not '
            'compared): versions.pandas = 1.5.3\n') in out
    assert 'vs -' not in out and 'vs 0.0' not in out
    # the same keys on both sides: no such line
    assert run_compare(write(tmp_path, 'a.json', newer),
                       write(tmp_path, 'b.json', newer)) == 0
    assert 'Recorded only' not in capsys.readouterr().out


def test_a_requested_metric_one_record_lacks_exits_2(tmp_path, capsys):
    # found by the adversarial pass: "0 of 0 values within", exit 0
    ref = copy.deepcopy(RECORD)
    for row in ref['history'] + [ref['final']]:
        row.pop('auc', None)
    ref_path = write(tmp_path, 'ref.json', ref)
    run_path = write(tmp_path, 'run.json', RECORD)
    assert run_compare(run_path, ref_path, '--metrics', 'auc') == 2
    err = capsys.readouterr().err
    assert f'the reference ({ref_path}) holds no auc' in err
    # the other way round names the run
    assert run_compare(ref_path, run_path, '--metrics', 'auc') == 2
    assert f'the run ({ref_path}) holds no auc' in capsys.readouterr().err
    # a name no record holds at all
    assert run_compare(run_path, run_path, '--metrics', 'hitrate') == 2
    assert 'holds no hitrate' in capsys.readouterr().err


def test_what_only_the_run_holds_is_named_not_compared(tmp_path, capsys):
    run = copy.deepcopy(RECORD)
    run['history'].append({'epoch': 3, 'loss': 0.3, 'auc': 0.9})
    for row in run['history'][1:] + [run['final']]:
        row['ndcg'] = 0.1
    assert run_compare(write(tmp_path, 'run.json', run),
                       write(tmp_path, 'ref.json', RECORD)) == 0
    out = capsys.readouterr().out
    assert ('Not compared (held by the run only): reference has no epoch '
            '3; reference has no ndcg (epoch 2 and final)') in out
    assert '7 of 7 values within' in out


def test_a_comparison_of_nothing_exits_2(tmp_path, capsys):
    # the reference's only epoch holds no metric the run has: nothing
    # would be compared, which is neither a pass nor a drift
    ref = {'history': [{'epoch': 1, 'ndcg': 0.1}], 'final': {}}
    run = {'history': [{'epoch': 1, 'loss': 0.5}], 'final': {'loss': 0.5}}
    assert run_compare(write(tmp_path, 'run.json', run),
                       write(tmp_path, 'ref.json', ref),
                       '--metrics', 'loss') == 2
    assert 'holds no loss' in capsys.readouterr().err
    ref = {'history': [{'epoch': 1, 'x': 0.1}], 'final': {'y': 1}}
    assert run_compare(write(tmp_path, 'run.json', run),
                       write(tmp_path, 'ref.json', ref)) == 2
    assert 'nothing to compare' in capsys.readouterr().err


def test_a_number_no_float_holds_exits_2_naming_it(tmp_path, capsys):
    # found by the adversarial pass: OverflowError, exit 1
    huge = copy.deepcopy(RECORD)
    huge['final']['auc'] = 10 ** 400
    path = tmp_path / 'huge.json'
    path.write_text(json.dumps(huge))
    assert run_compare(path, write(tmp_path, 'ref.json', RECORD)) == 2
    err = capsys.readouterr().err
    assert 'has auc = a whole number of 401 digits' in err
    assert '"final"' in err and 'Traceback' not in err


def test_the_tie_share_is_compared_and_shown(tmp_path, capsys):
    ref = copy.deepcopy(RECORD)
    ref['history'][1]['tie_share'] = ref['final']['tie_share'] = 0.0
    dead = copy.deepcopy(ref)
    dead['history'][1]['tie_share'] = dead['final']['tie_share'] = 1.0
    assert run_compare(write(tmp_path, 'run.json', dead),
                       write(tmp_path, 'ref.json', ref)) == 1
    out = capsys.readouterr().out
    assert 'final      tie_share' in out and 'NO' in out
    # an older reference without it: named, not compared
    assert run_compare(write(tmp_path, 'run.json', dead),
                       write(tmp_path, 'old.json', RECORD)) == 0
    assert 'reference has no tie_share (epoch 2 and final)' in \
        capsys.readouterr().out
