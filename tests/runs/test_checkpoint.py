"""Checkpoints: resume equals an uninterrupted run; damage is refused."""
import json
import os

import pytest

import d2l_ncf.losses
from d2l_ncf import cli
from d2l_ncf.runs.checkpoint import CheckpointError, load_checkpoint
from d2l_ncf.runs.config import TrainConfig
from d2l_ncf.runs.run import train
from d2l_ncf.corrected import NonFiniteLossError
from synthetic import make_ratings, write_udata

SMALL = ['--batch-size', '32', '--num-factors', '4', '--hiddens', '4', '4',
         '--no-progress', '--protocol', 'corrected', '--k', '10']


def run(args):
    return cli.main(['train'] + SMALL + args)


def saved(synthetic_dir, tmp_path, epochs, *extra):
    """A checkpoint of `epochs` epochs on the synthetic data; its folder."""
    ck = tmp_path / 'ck'
    assert run(['--data-dir', synthetic_dir, '--epochs', str(epochs),
                '--save', str(ck), *extra]) == 0
    return ck


@pytest.fixture
def checkpoint(synthetic_dir, tmp_path):
    return saved(synthetic_dir, tmp_path, 1)


def epoch_files(ck):
    """The folder of the checkpoint's files (its manifest names it)."""
    return ck / json.loads((ck / 'manifest.json').read_text())['folder']


def tree(folder):
    """Every file under `folder` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob('*')) if p.is_file()}


def history(out):
    record = json.loads((out / 'metrics.json').read_text())
    return record['history'], record['final']


@pytest.mark.parametrize('extra', [[], ['--loss', 'log', '--num-neg', '3'],
                                   ['--devices', 'cpu:2'], ['--ema', '0.9'],
                                   ['--loss', 'log', '--recency', '3']])
def test_resume_equals_an_uninterrupted_run(synthetic_dir, tmp_path,
                                            extra):
    data = ['--data-dir', synthetic_dir] + extra
    assert run(data + ['--epochs', '4', '--out', str(tmp_path / 'whole')]
               ) == 0
    ck = str(tmp_path / 'ck')
    assert run(data + ['--epochs', '2', '--save', ck]) == 0
    assert load_checkpoint(ck)['state']['epoch'] == 2
    # the resumed run takes its settings from the checkpoint
    assert run(['--data-dir', synthetic_dir, '--epochs', '4', '--resume',
                ck, '--save', ck, '--out', str(tmp_path / 'resumed')]) == 0
    whole, whole_final = history(tmp_path / 'whole')
    resumed, resumed_final = history(tmp_path / 'resumed')
    assert [r['epoch'] for r in resumed] == [1, 2, 3, 4]
    assert resumed == whole
    for key in ('loss', 'hit_rate', 'auc', 'ndcg'):
        assert resumed_final[key] == whole_final[key]
    assert load_checkpoint(ck)['state']['epoch'] == 4


def test_resume_refuses_other_settings(checkpoint, synthetic_dir, capsys):
    code = run(['--data-dir', synthetic_dir, '--epochs', '3', '--resume',
                str(checkpoint), '--lr', '0.5'])
    assert code == 1
    err = capsys.readouterr().err
    assert 'trained with other settings: lr 0.5 (checkpoint: 0.01)' in err


def test_resume_takes_typed_options_only(synthetic_dir, tmp_path,
                                         usage_error):
    ck = str(saved(synthetic_dir, tmp_path, 1, '--eval-step', '1'))
    # --eval-step may change; abbreviations are refused, not ignored
    assert run(['--data-dir', synthetic_dir, '--epochs=3', '--eval-step',
                '2', '--resume', ck, '--save', ck]) == 0
    assert load_checkpoint(ck)['state']['epoch'] == 3
    usage_error(['train'] + SMALL + ['--data-dir', synthetic_dir, '--epo',
                                     '5', '--resume', ck],
                'unrecognized arguments: --epo')


def test_resume_needs_more_epochs(synthetic_dir, tmp_path, usage_error):
    ck = str(saved(synthetic_dir, tmp_path, 2))
    usage_error(['train'] + SMALL + ['--data-dir', synthetic_dir, '--epochs',
                                     '2', '--resume', ck],
                'has trained 2 epochs already')


def test_resume_refuses_other_data(checkpoint, tmp_path, capsys):
    other = write_udata(tmp_path / 'other', make_ratings(num_users=30))
    code = run(['--data-dir', other, '--epochs', '2', '--resume',
                str(checkpoint)])
    assert code == 1
    err = capsys.readouterr().err
    assert 'was trained on other data (24 users, 40 items' in err
    assert 'this data has 30 users' in err


def test_save_does_not_overwrite_another_checkpoint(checkpoint,
                                                    synthetic_dir, capsys):
    ck = checkpoint
    before = tree(ck)
    code = run(['--data-dir', synthetic_dir, '--epochs', '1', '--seed', '3',
                '--save', str(ck)])
    assert code == 1
    assert 'already holds a checkpoint' in capsys.readouterr().err
    assert tree(ck) == before


@pytest.mark.parametrize('damage, message', [
    (lambda ck: (epoch_files(ck) / 'model.params').write_bytes(
        (epoch_files(ck) / 'model.params').read_bytes()[:100]),
     r'model\.params has 100 bytes, expected \d+: the file is truncated'),
    (lambda ck: (epoch_files(ck) / 'config.json').write_text(
        (epoch_files(ck) / 'config.json').read_text().replace(
            '"lr": 0.01', '"lr": 0.02')),
     r'config\.json does not match its SHA-256'),
    (lambda ck: os.remove(ck / 'manifest.json'),
     r'manifest\.json is missing \(it is written last'),
    (lambda ck: os.remove(epoch_files(ck) / 'trainer.states'),
     r'trainer\.states is missing'),
    (lambda ck: (ck / 'manifest.json').write_text('{"model.params": '),
     r'manifest\.json, line 1: not valid JSON'),
])
def test_damaged_checkpoints_are_refused(checkpoint, synthetic_dir, damage,
                                         message, capsys):
    damage(checkpoint)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(str(checkpoint))
    code = run(['--data-dir', synthetic_dir, '--epochs', '2', '--resume',
                str(checkpoint)])
    assert code == 1
    assert 'd2l-ncf: error:' in capsys.readouterr().err


def test_parameters_of_another_shape_are_refused(synthetic_dir, tmp_path):
    # a checkpoint whose files are intact but whose network is larger
    big = saved(synthetic_dir, tmp_path / 'big', 1, '--num-factors', '6')
    bigger = load_checkpoint(str(big))
    from d2l_ncf.runs.checkpoint import restore
    from d2l_ncf.runs.builders import build_net
    import mxnet as mx
    net = build_net(TrainConfig(num_factors=4, nums_hiddens=(4, 4)),
                    24, 40, [mx.cpu()])
    with pytest.raises(CheckpointError, match='do not fit this network'):
        restore(bigger, net, [mx.cpu()])


def test_a_crash_while_saving_keeps_the_last_checkpoint(
        checkpoint, synthetic_dir, monkeypatch, capsys):
    before = tree(checkpoint)
    import mxnet.gluon

    def crash(self, fname):
        with open(fname, 'wb') as f:
            f.write(b'half')
        raise OSError('disk full')
    monkeypatch.setattr(mxnet.gluon.Trainer, 'save_states', crash)
    code = run(['--data-dir', synthetic_dir, '--epochs', '3', '--resume',
                str(checkpoint), '--save', str(checkpoint)])
    assert code == 1
    err = capsys.readouterr().err
    assert 'could not write the checkpoint (OSError: disk full)' in err
    assert sorted(p.name for p in checkpoint.parent.iterdir()
                  if p.name.startswith('ck')) == ['ck']
    assert tree(checkpoint) == before
    assert load_checkpoint(str(checkpoint))['state']['epoch'] == 1


class NaNAfter(d2l_ncf.losses.LogLoss):
    """The log loss, NaN from the `bad`-th call on."""
    calls = 0
    bad = 10

    def forward(self, positive, negative):
        NaNAfter.calls += 1
        loss = super().forward(positive, negative)
        return loss * float('nan') if NaNAfter.calls >= self.bad else loss


def test_non_finite_loss_stops_and_keeps_the_checkpoint(
        synthetic_dir, tmp_path, monkeypatch):
    # 168 training pairs / batch 32 = 5 batches an epoch: call 10 is
    # epoch 2, batch 5, after epoch 1's checkpoint was written
    monkeypatch.setitem(d2l_ncf.losses.LOSSES, 'log', NaNAfter)
    monkeypatch.setattr('d2l_ncf.runs.builders.LOSSES', d2l_ncf.losses.LOSSES)
    NaNAfter.calls = 0
    ck = tmp_path / 'ck'
    config = TrainConfig(protocol='corrected', loss='log', batch_size=32,
                         num_factors=4, nums_hiddens=(4, 4), num_epochs=3,
                         k=10,
                         data_dir=synthetic_dir, devices='cpu')
    with pytest.raises(NonFiniteLossError,
                       match=r'epoch 2: the loss is nan'):
        train(config, save=str(ck), progress=False)
    assert load_checkpoint(str(ck))['state']['epoch'] == 1


def test_diverging_run_stops_with_epoch_and_batch(synthetic_dir, tmp_path,
                                                 capsys):
    ck = tmp_path / 'ck'
    code = run(['--data-dir', synthetic_dir, '--epochs', '3', '--lr',
                '1e38', '--save', str(ck)])
    assert code == 1
    err = capsys.readouterr().err
    assert 'error: epoch 1: the loss is nan' in err
    assert not ck.exists()  # no epoch finished: nothing to save


def test_resume_with_num_workers_says_to_drop_it(checkpoint, synthetic_dir,
                                                 usage_error):
    # --reference cannot be added on a resume, so that advice would fail
    captured = usage_error(['train', '--data-dir', synthetic_dir, '--epochs',
                            '3', '--resume', str(checkpoint),
                            '--num-workers', '2'],
                           'the checkpoint was trained without --reference, '
                           'so drop --num-workers')
    assert 'add --reference' not in captured.err


def edited_config(ck, **values):
    """Edit the checkpoint's config.json by hand, and its manifest so the
    digest still matches (what a user editing both would do)."""
    import hashlib
    path = epoch_files(ck) / 'config.json'
    config = dict(json.loads(path.read_text()), **values)
    path.write_text(json.dumps(config))
    data = path.read_bytes()
    manifest = json.loads((ck / 'manifest.json').read_text())
    manifest['files']['config.json'] = {
        'bytes': len(data), 'sha256': hashlib.sha256(data).hexdigest()}
    (ck / 'manifest.json').write_text(json.dumps(manifest))
    return path


@pytest.mark.parametrize('values, message', [
    ({'num_factors': '4'}, 'num_factors is "4", expected a whole number'),
    ({'lr': 'fast'}, 'lr is "fast", expected a number'),
    ({'nums_hiddens': [4, 'x']},
     'nums_hiddens is [4, "x"], expected a list'),
    ({'sparse': 1}, 'sparse is 1, expected true or false'),
])
@pytest.mark.parametrize('command', ['resume', 'recommend'])
def test_a_hand_edited_config_of_the_wrong_type_is_named(
        checkpoint, synthetic_dir, values, message, command, capsys):
    # issue 23: a string where a number belongs was a TypeError traceback
    path = edited_config(checkpoint, **values)
    argv = (['train'] + SMALL + [
        '--data-dir', synthetic_dir, '--epochs', '2', '--resume',
        str(checkpoint)] if command == 'resume' else
        ['recommend', '--checkpoint', str(checkpoint), '--user', '1'])
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert f'checkpoint {path}: {message}' in err
    assert 'Traceback' not in err and err.count('\n') == 1


def test_resume_on_smaller_data_says_the_data_differs(checkpoint,
                                                       tmp_path, capsys):
    # issue 23: the settings' checks ran first and blamed a setting
    # (--k 10 above the 4 items, --batch-size 32 above the 9 training
    # interactions of the other data)
    t = 874965758
    small = write_udata(tmp_path / 'small', [
        (u, i, 3, t + 10 * u + i) for u in (1, 2, 3) for i in (1, 2, 3, 4)])
    assert run(['--data-dir', small, '--epochs', '2', '--resume',
                str(checkpoint)]) == 1
    err = capsys.readouterr().err
    assert 'was trained on other data (24 users, 40 items' in err
    assert err.count('fingerprint ') == 2
    assert 'batch-size' not in err and '--k' not in err
