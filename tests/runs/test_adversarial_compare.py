"""compare: a run always equals itself; odd files exit 2, never a trace."""
import copy
import json

import pytest

from d2l_ncf import cli

RECORD = {
    'config': {'seed': 0},
    'history': [{'epoch': 1, 'loss': 0.5},
                {'epoch': 2, 'loss': 0.4, 'hit_rate': 0.3, 'auc': 0.8}],
    'final': {'loss': 0.4, 'hit_rate': 0.3, 'auc': 0.8},
}


def write(tmp_path, name, record):
    path = tmp_path / name
    path.write_text(json.dumps(record))  # NaN and Infinity as Python does
    return str(path)


def run_compare(*args):
    return cli.main(['compare'] + [str(a) for a in args])


@pytest.mark.parametrize('value', [float('nan'), float('inf'),
                                   float('-inf'), None, 1e308, 0.0])
def test_identical_inputs_compare_equal_non_finite_included(
        tmp_path, capsys, value):
    record = copy.deepcopy(RECORD)
    record['history'][1]['auc'] = record['final']['auc'] = value
    path = write(tmp_path, 'a.json', record)
    assert run_compare(path, path) == 0
    out = capsys.readouterr().out
    assert '7 of 7 values within' in out
    if value is not None and value != value or value in (
            float('inf'), float('-inf')):
        assert 'the same non-finite value counts as equal' in out


@pytest.mark.parametrize('a, b', [
    (float('nan'), 0.8), (float('inf'), float('-inf')),
    (float('inf'), 0.8), (None, 0.8), (float('nan'), float('inf'))])
def test_different_non_finite_values_drift(tmp_path, capsys, a, b):
    run, ref = copy.deepcopy(RECORD), copy.deepcopy(RECORD)
    run['final']['auc'], ref['final']['auc'] = a, b
    assert run_compare(write(tmp_path, 'run.json', run),
                       write(tmp_path, 'ref.json', ref)) == 1
    assert '1 drifted' in capsys.readouterr().out


def test_a_metric_named_in_neither_file_lists_the_present_ones(
        tmp_path, capsys):
    ref = write(tmp_path, 'ref.json', RECORD)
    assert run_compare(ref, ref, '--metrics', 'loss', 'hitrate') == 2
    err = capsys.readouterr().err
    assert f'--metrics hitrate: the run ({ref}) holds no hitrate' in err
    assert 'it holds auc, hit_rate, loss' in err
    # a metric asked for that only one of the files holds: exit 2 (issue
    # 23: it compared nothing); not asked for, a reference's metric the
    # run lacks is missing from the run (drift, 1)
    other = copy.deepcopy(RECORD)
    other['final']['ndcg'] = 0.2
    o = write(tmp_path, 'o.json', other)
    assert run_compare(ref, o, '--metrics', 'ndcg') == 2
    assert f'the run ({ref}) holds no ndcg' in capsys.readouterr().err
    assert run_compare(ref, o) == 1
    assert any(line.split()[:3] == ['final', 'ndcg', 'missing']
               for line in capsys.readouterr().out.splitlines() if line)


@pytest.mark.parametrize('content, message', [
    (b'\x89PNG\r\n\x1a\n\x00\x00', 'the file is a PNG image'),
    (b'\xff\xd8\xff\xe0junk', 'the file is a JPEG image'),
    (b'PK\x03\x04', 'the file is a zip archive'),
    ('{"a": 1}'.encode('utf-16'), 'the file is UTF-16 text'),
    (b'\xe9t\xe9', 'not UTF-8 text'),
    (b'[' * 100000, 'JSON nested too deeply'),
    (b'{"history": [', 'line 1: not valid JSON'),
    (b'"a string"', 'expected a d2l-ncf metrics.json'),
    (b'{"history": {}, "final": {}}', 'expected a d2l-ncf metrics.json'),
    (b'{"history": [], "final": []}', 'expected a d2l-ncf metrics.json'),
    (b'{"history": [1], "final": {}}', 'a "history" row without "epoch"'),
    (b'{"history": [{"epoch": [1]}], "final": {}}',
     "history row 1 has epoch [1]; expected a whole number"),
    (b'{"history": [{"epoch": 1.5}], "final": {}}', 'has epoch 1.5'),
    (b'{"history": [{"epoch": 1}, {"epoch": 1}], "final": {}}',
     'epoch 1 occurs twice'),
    (b'{"history": [{"epoch": 1, "loss": "0.4"}], "final": {}}',
     "history row 1 (epoch 1) has loss = '0.4'; expected a number"),
    (b'{"history": [], "final": {"auc": true}}',
     '"final" has auc = True; expected a number'),
    (b'{"history": [], "final": {"auc": {"x": 1}}}', 'expected a number'),
    (b'{"history": [], "final": {}, "config": [1]}',
     '"config" is a list (\'[1]\'); expected an object'),
])
def test_a_file_that_is_no_metrics_record_exits_2(tmp_path, capsys,
                                                  content, message):
    ref = write(tmp_path, 'ref.json', RECORD)
    bad = tmp_path / 'bad.json'
    bad.write_bytes(content)
    for args in ((bad, ref), (ref, bad)):
        assert run_compare(*args) == 2
        err = capsys.readouterr().err
        assert message in err and str(bad) in err
        assert 'Traceback' not in err


def test_a_folder_without_metrics_json_and_an_unreadable_file(
        tmp_path, capsys):
    ref = write(tmp_path, 'ref.json', RECORD)
    assert run_compare(tmp_path / 'nothing-here', ref) == 2
    folder = tmp_path / 'empty'
    folder.mkdir()
    assert run_compare(folder, ref) == 2
    assert 'metrics.json: no such file' in capsys.readouterr().err
    locked = tmp_path / 'metrics.json'
    locked.mkdir()  # metrics.json that is itself a folder
    (locked / 'metrics.json').mkdir()
    assert run_compare(locked, ref) == 2
    assert 'not a regular file (a folder)' in capsys.readouterr().err


def test_an_empty_record_is_refused_even_against_itself(tmp_path, capsys):
    # decided: a record with no metric is neither equal to itself nor
    # different (0 or 1 would each claim something), so it is an input
    # error, exit 2, and the message says the record holds no metrics
    empty = write(tmp_path, 'empty.json', {'history': [], 'final': {}})
    assert run_compare(empty, empty) == 2
    err = capsys.readouterr().err
    assert (f'd2l-ncf compare: error: {empty} holds no metrics (its '
            f'history is empty and its final has none of loss, hit_rate, '
            f'auc, ndcg, tie_share): there is nothing to compare') in err
    full = write(tmp_path, 'full.json', RECORD)
    assert run_compare(full, empty) == 2
    assert f'{empty} holds no metrics' in capsys.readouterr().err
    # a record with final metrics only still compares
    final_only = write(tmp_path, 'final.json',
                       {'history': [], 'final': {'loss': 0.4}})
    assert run_compare(final_only, final_only) == 0


def test_an_all_null_comparison_compares_nothing(tmp_path, capsys):
    # found by the new-user pass: values never measured, on both sides,
    # made "2 of 2 values within", exit 0
    nulls = {'history': [{'epoch': 1, 'auc': None}], 'final': {'auc': None}}
    path = write(tmp_path, 'nulls.json', nulls)
    assert run_compare(path, path) == 2
    assert 'every value the two records share is null' in \
        capsys.readouterr().err


def test_nothing_shared_names_what_each_side_holds(tmp_path, capsys):
    a = write(tmp_path, 'a.json', {'history': [], 'final': {'ndcg': 0.1}})
    b = write(tmp_path, 'b.json', {'history': [], 'final': {'auc': 0.8}})
    assert run_compare(a, b) == 2
    err = capsys.readouterr().err
    assert 'the run has epochs none and final ndcg' in err
    assert 'the reference has epochs none and final auc' in err


def test_records_without_numerics_are_not_called_native(tmp_path, capsys):
    # found by the new-user pass: "the same on both (native)" for records
    # that say nothing of their numerics
    path = write(tmp_path, 'old.json', RECORD)
    assert run_compare(path, path) == 0
    out = capsys.readouterr().out
    assert 'neither record says which CPU arithmetic' in out
    assert '(native)' not in out


def test_a_huge_value_keeps_the_table_readable(tmp_path, capsys):
    huge = copy.deepcopy(RECORD)
    huge['final']['auc'] = 1e308
    assert run_compare(write(tmp_path, 'h.json', huge),
                       write(tmp_path, 'r.json', RECORD)) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines()
               if line.split()[:2] == ['final', 'auc'])
    assert '1.00000e+308' in row and len(row) < 80
