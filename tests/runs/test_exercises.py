import csv

import matplotlib.image
import pytest

from d2l_ncf import cli

SMALL = ['--epochs', '2', '--batch-size', '32', '--num-factors', '4',
         '--hiddens', '4', '--no-progress', '--k', '10', '--devices',
         'cpu']
# the option each exercise varies: its --values may not meet it
VARIED = {'factors': '--num-factors', 'hiddens': '--hiddens'}


def small(exercise):
    """SMALL less the option (and its one value) `exercise` varies."""
    if exercise not in VARIED:
        return SMALL
    at = SMALL.index(VARIED[exercise])
    return SMALL[:at] + SMALL[at + 2:]


@pytest.mark.parametrize('exercise, values', [
    ('factors', ['4', '8']),
    ('hiddens', ['4', '8 4']),
    ('optim', ['adam:0.01:1e-5', 'sgd:0.1:0']),
    ('loss', ['bpr', 'hinge']),
])
def test_exercise_writes_table_and_plot(exercise, values, synthetic_dir,
                                        tmp_path, capsys):
    out = tmp_path / exercise
    code = cli.main(['exercise', exercise, '--values'] + values
                    + ['--seeds', '0', '1', '--data-dir', synthetic_dir,
                       '--out', str(out)] + small(exercise))
    assert code == 0
    with open(out / 'exercise.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['setting'] for r in rows] == values
    assert all(r['n'] == '2' for r in rows)
    for r in rows:
        assert 0 <= float(r['final_hit_rate']) <= 1
        assert 0 <= float(r['final_auc']) <= 1
        assert float(r['best_hit_rate']) >= float(r['final_hit_rate'])
        assert float(r['wall_seconds']) > 0
    table = (out / 'exercise.md').read_text().splitlines()
    assert len(table) == 2 + len(values)
    image = matplotlib.image.imread(str(out / 'exercise.png'))
    assert image.ndim == 3 and image.shape[0] > 100
    assert len(capsys.readouterr().out.strip().splitlines()) == len(values)


def test_settings_change_the_model(synthetic_dir, tmp_path, capsys):
    # different factor sizes train different models
    code = cli.main(['exercise', 'factors', '--values', '2', '16',
                     '--data-dir', synthetic_dir, '--out',
                     str(tmp_path)] + small('factors'))
    assert code == 0
    with open(tmp_path / 'exercise.csv') as f:
        a, b = list(csv.DictReader(f))
    assert a['final_loss'] != b['final_loss']


@pytest.mark.parametrize('args, message', [
    (['optim', '--values', 'adam:x:1'], 'lr must be a number'),
    (['optim', '--values', 'adam:0.1'], 'OPTIMIZER:LR:WD such as '
                                        'adam:0.01:1e-5'),
    (['optim', '--values', 'nosuch:0.1:0'], 'unknown optimizer'),
    (['hiddens', '--values', '10 x'], 'nums_hiddens must be sizes'),
    (['hiddens', '--values', '10 0'], '--hiddens must be one or more sizes'),
    (['factors', '--values', 'four'], 'num_factors must be a whole number'),
    (['loss', '--values', 'log', '--protocol', 'book'], 'book protocol'),
    (['colours', '--values', '1'], 'invalid choice'),
])
def test_bad_exercise_values_are_usage_errors(args, message, usage_error):
    usage_error(['exercise'] + args, message)


@pytest.mark.parametrize('exercise, values, typed, named', [
    ('factors', ['4', '8'], ['--num-factors', '16'], '--num-factors'),
    ('hiddens', ['4'], ['--hiddens', '8', '8'], '--hiddens'),
    ('optim', ['sgd:0.1:0'], ['--lr', '0.5'], '--lr'),
    ('optim', ['sgd:0.1:0'], ['--optimizer', 'nag', '--wd', '0'],
     '--wd, --optimizer'),
    ('loss', ['hinge'], ['--loss', 'bpr'], '--loss'),
])
def test_values_meeting_the_option_they_vary_is_a_usage_error(
        exercise, values, typed, named, usage_error, tmp_path):
    # found by the new-user pass: --values silently replaced the option
    captured = usage_error(['exercise', exercise, '--values'] + values
                           + typed + ['--out', str(tmp_path / 'ex')],
                           f'exercise {exercise} sets ')
    assert named in captured.err and '--values' in captured.err
    assert not (tmp_path / 'ex').exists()


def test_the_default_of_the_varied_option_is_no_conflict(usage_error):
    # only a typed option conflicts: the devices, checked after, refuse
    usage_error(['exercise', 'factors', '--values', '4', '--devices',
                 'tpu'], 'unknown device spec')


def test_exercise_does_not_overwrite(synthetic_dir, tmp_path, capsys):
    (tmp_path / 'exercise.csv').write_text('keep')
    code = cli.main(['exercise', 'loss', '--values', 'bpr', '--data-dir',
                     synthetic_dir, '--out', str(tmp_path)] + SMALL)
    assert code == 1
    assert 'already holds exercise.csv' in capsys.readouterr().err
    assert (tmp_path / 'exercise.csv').read_text() == 'keep'


def _rows(settings):
    return [{'setting': s, 'seeds': '3', 'final_hit_rate': '0.3',
             'final_hit_rate_sd': '0.01', 'final_auc': '0.8',
             'final_auc_sd': '0.02', 'final_ndcg': '0.1',
             'final_ndcg_sd': '0.005'} for s in settings]


def _joined(ax):
    """Lines drawn between points (not error bars or markers alone)."""
    return [line for line in ax.get_lines()
            if line.get_linestyle() not in ('None', 'none', '')
            and len(line.get_xdata()) > 2]


def test_categorical_settings_are_points_not_lines():
    from d2l_ncf.runs.exercises import plot_rows
    fig = plot_rows(_rows(['adam:0.01:1e-5', 'sgd:0.1:0', 'adam:0.01:0']),
                    'optim', k=50)
    ax = fig.axes[0]
    assert not _joined(ax)
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        'adam:0.01:1e-5', 'sgd:0.1:0', 'adam:0.01:0']
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        'Hit@50', 'AUC', 'NDCG@50']
    assert ax.get_xlabel() == 'optimizer:lr:wd'


def test_factor_sizes_go_on_a_numeric_axis():
    from d2l_ncf.runs.exercises import plot_rows
    fig = plot_rows(_rows(['16', '4', '64']), 'factors', k=10)
    ax = fig.axes[0]
    lines = _joined(ax)
    assert lines and list(lines[0].get_xdata()) == [4, 16, 64]  # sorted
    assert ax.get_xscale() == 'log'
    assert 'Hit@10' in [t.get_text() for t in ax.get_legend().get_texts()]


def test_saved_exercise_plots_redraw_from_their_tables(tmp_path):
    import importlib.util
    import os
    import shutil
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
    spec = importlib.util.spec_from_file_location(
        'draw_figures', os.path.join(repo, 'notebooks', 'draw_figures.py'))
    draw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(draw)
    (tmp_path / 'loss').mkdir()
    shutil.copy(os.path.join(repo, 'docs', 'exercises', 'loss',
                             'exercise.csv'), tmp_path / 'loss')
    assert draw.redraw_exercises(str(tmp_path)) == [
        str(tmp_path / 'loss' / 'exercise.png')]
    image = matplotlib.image.imread(str(tmp_path / 'loss' / 'exercise.png'))
    assert image.shape[0] > 300
    svg, png = draw.draw_neumf(str(tmp_path / 'figures'))
    text = open(svg).read()
    for word in ('GMF', 'MLP', 'prediction layer', 'element-wise product'):
        assert word in text


def test_a_dead_setting_scores_chance_and_says_ties_decided(
        synthetic_dir, tmp_path, capsys):
    # found by the adversarial pass: a dead setting showed AUC 0.733
    # beside live ones, its ties broken by id (SGD with lr 1 and decay 1
    # zeroes every weight in one step: every score ties)
    out = tmp_path / 'optim'
    code = cli.main(['exercise', 'optim', '--values', 'sgd:1:1',
                     'adam:0.01:1e-5', '--seeds', '0', '--data-dir',
                     synthetic_dir, '--out', str(out)] + small('optim'))
    assert code == 0
    with open(out / 'exercise.csv') as f:
        dead, live = list(csv.DictReader(f))
    assert float(dead['final_tie_share']) == 1.0
    assert float(dead['final_auc']) == pytest.approx(0.5)
    assert float(live['final_tie_share']) < 0.01
    err = capsys.readouterr().err
    assert "ties decided the metrics of optim 'sgd:1:1'" in err
    assert 'adam:0.01:1e-5' not in err


def test_one_seed_has_no_sd_and_the_book_notice_names_the_id_order(
        synthetic_dir, tmp_path, capsys):
    # found by the new-user pass: an sd of 0.000 over one seed, and under
    # --protocol book a notice claiming ties counted as chance when the
    # chapter's id order placed them
    out = tmp_path / 'book'
    assert cli.main(['exercise', 'optim', '--values', 'sgd:1:1', '--seeds',
                     '0', '--protocol', 'book', '--data-dir', synthetic_dir,
                     '--out', str(out), '--epochs', '2', '--batch-size',
                     '32', '--num-factors', '4', '--hiddens', '4',
                     '--no-progress', '--devices', 'cpu']) == 0
    err = capsys.readouterr().err
    assert "ties decided the metrics of optim 'sgd:1:1'" in err
    assert "so the chapter's order (ascending item id) placed them" in err
    with open(out / 'exercise.csv') as f:
        (row,) = list(csv.DictReader(f))
    assert row['final_hit_rate_sd'] == '' and row['final_auc_sd'] == ''
    table = (out / 'exercise.md').read_text()
    assert 'n=1' in table and '0.000 | 0.' not in table.split('\n')[2][:40]
