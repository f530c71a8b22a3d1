"""Files are never destroyed: --save, --resume, --out and exercise --out
touch only what the package itself wrote, refuse anything else before
any work, and a signal stops a run cleanly. Each test checks the bytes
of the files it protects."""
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from d2l_ncf import cli
from d2l_ncf.runs.checkpoint import (FILES, FORMAT, VERSION, CheckpointError,
                                SaveLock, load_checkpoint)
from synthetic import make_ratings, write_udata

SMALL = ['--batch-size', '32', '--num-factors', '4', '--hiddens', '4', '4',
         '--no-progress', '--protocol', 'corrected', '--devices', 'cpu',
         '--k', '10']  # k 50 on 40 items would be a certain hit, refused


def without(args, option):
    """`args` less `option` and its one value (an exercise's --values
    may not meet the option it varies)."""
    at = args.index(option)
    return args[:at] + args[at + 2:]


REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def run(args):
    return cli.main(['train'] + SMALL + args)


def tree(folder):
    """Every file under `folder` (relative path) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob('*')) if p.is_file()}


def manifest(ck):
    return json.loads((ck / 'manifest.json').read_text())


def dead_pid():
    """The pid of a process that has ended."""
    done = subprocess.Popen([sys.executable, '-c', 'pass'])
    done.wait(timeout=60)
    return done.pid


@pytest.fixture
def ck(synthetic_dir, tmp_path):
    """A one-epoch checkpoint whose folder also holds the run's --out."""
    folder = tmp_path / 'ck'
    assert run(['--data-dir', synthetic_dir, '--epochs', '1', '--save',
                str(folder), '--out', str(folder)]) == 0
    return folder


def test_save_onto_a_regular_file_is_refused_and_the_file_kept(
        synthetic_dir, tmp_path, usage_error):
    path = tmp_path / 'results.txt'
    path.write_bytes(b'my results\n')
    for extra in ([], ['--overwrite']):
        captured = usage_error(
            ['train'] + SMALL + ['--data-dir', synthetic_dir, '--epochs', '1',
                                 '--save', str(path)] + extra,
            'is a file; a checkpoint is a folder')
        assert 'train loss' not in captured.out
    assert path.read_bytes() == b'my results\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'results.txt', 'synthetic']  # nothing renamed aside


@pytest.mark.parametrize('contents', [
    {'notes.txt': b'keep me'},
    # someone else's manifest.json does not make a checkpoint
    {'manifest.json': b'{"name": "my-dataset", "files": ["a.csv"]}',
     'a.csv': b'1,2\n'},
    # nor does one shaped like ours that names no format among other files
    {'manifest.json': b'{"format": "other-tool", "version": 2}',
     'model.params': b'theirs'},
])
def test_save_into_a_folder_of_other_files_is_refused_even_with_overwrite(
        synthetic_dir, tmp_path, usage_error, contents):
    folder = tmp_path / 'mine'
    folder.mkdir()
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    for extra in ([], ['--overwrite']):
        usage_error(['train'] + SMALL + ['--data-dir', synthetic_dir,
                                         '--epochs', '1', '--save',
                                         str(folder)] + extra,
                    'holds files that are not a d2l_ncf checkpoint')
    assert tree(folder) == contents and not list(
        tmp_path.glob('mine.*'))


def test_manifest_names_the_format_and_its_version(ck):
    m = manifest(ck)
    assert (m['format'], m['version'], m['epoch']) == (FORMAT, VERSION, 1)
    assert sorted(m['files']) == sorted(FILES)
    assert sorted(p.name for p in (ck / m['folder']).iterdir()) == sorted(
        FILES)


def test_resume_and_save_into_one_folder_keeps_every_other_file(
        ck, synthetic_dir, tmp_path):
    # the run's own --out files, the user's notes, the data trained on
    data = ck / 'u.data'
    data.write_bytes((tmp_path / 'synthetic' / 'u.data').read_bytes())
    (ck / 'notes.txt').write_text('epoch 1 looked fine\n')
    (ck / 'mine').mkdir()
    (ck / 'mine' / 'model.params').write_bytes(b'my own copy')
    kept = {name: data for name, data in tree(ck).items()
            if not name.startswith(manifest(ck)['folder'])
            and name != 'manifest.json'}
    assert {'metrics.json', 'curves.png', 'u.data', 'notes.txt',
            'mine/model.params'} == set(kept)
    for epochs in ('2', '3'):
        assert run(['--data-dir', str(ck), '--epochs', epochs, '--resume',
                    str(ck), '--save', str(ck)]) == 0
    after = tree(ck)
    assert {k: after[k] for k in kept} == kept
    m = manifest(ck)
    assert m['epoch'] == 3 and load_checkpoint(str(ck))['state'][
        'epoch'] == 3
    assert set(after) == set(kept) | {'manifest.json'} | {
        f"{m['folder']}/{name}" for name in FILES}


def test_overwrite_replaces_only_the_checkpoints_own_files(
        ck, synthetic_dir):
    (ck / 'notes.txt').write_text('keep')
    before = {k: v for k, v in tree(ck).items()
              if k in ('notes.txt', 'metrics.json', 'curves.png')}
    old = manifest(ck)['folder']
    assert run(['--data-dir', synthetic_dir, '--epochs', '1', '--seed', '4',
                '--save', str(ck), '--overwrite']) == 0
    after = tree(ck)
    assert {k: after[k] for k in before} == before
    assert not (ck / old).exists() or manifest(ck)['folder'] == old
    assert load_checkpoint(str(ck))['config']['seed'] == 4


def test_a_newer_format_version_is_refused_with_a_message(
        ck, synthetic_dir, usage_error):
    m = manifest(ck)
    m['version'] = VERSION + 1
    (ck / 'manifest.json').write_text(json.dumps(m))
    before = tree(ck)
    with pytest.raises(CheckpointError, match='checkpoint format version 3'):
        load_checkpoint(str(ck))
    usage_error(['train'] + SMALL + ['--data-dir', synthetic_dir, '--epochs',
                                     '1', '--save', str(ck), '--overwrite'],
                'checkpoint format version 3')
    assert tree(ck) == before


def test_a_second_run_saving_into_a_locked_folder_stops_with_a_message(
        ck, synthetic_dir, capsys):
    before = tree(ck)
    with SaveLock(str(ck)):  # another run is saving there
        code = run(['--data-dir', synthetic_dir, '--epochs', '2',
                    '--resume', str(ck), '--save', str(ck)])
    assert code == 1
    err = capsys.readouterr().err
    assert (f'is being saved into by another run (pid {os.getpid()}'
            in err) and 'Traceback' not in err
    assert tree(ck) == before  # the lock file went with its holder


def test_temporaries_of_a_killed_save_are_cleaned_by_the_next(
        ck, synthetic_dir):
    dead, alive = dead_pid(), os.getppid()
    stale = ck / f'epoch-2.tmp-{dead}'
    stale.mkdir()
    (stale / 'model.params').write_bytes(b'half')
    (ck / f'manifest.json.tmp-{dead}').write_text('{"form')
    live = ck / f'epoch-5.tmp-{alive}'  # a running process's: not ours
    live.mkdir()
    (live / 'model.params').write_bytes(b'in progress')
    (ck / 'epoch-2.tmp-notes').write_text('a user file')  # not our name
    assert run(['--data-dir', synthetic_dir, '--epochs', '2', '--resume',
                str(ck), '--save', str(ck)]) == 0
    assert not stale.exists()
    assert not (ck / f'manifest.json.tmp-{dead}').exists()
    assert (live / 'model.params').read_bytes() == b'in progress'
    assert (ck / 'epoch-2.tmp-notes').read_text() == 'a user file'
    assert load_checkpoint(str(ck))['state']['epoch'] == 2


def test_a_first_save_in_a_folder_of_stale_temporaries_cleans_them(
        synthetic_dir, tmp_path):
    folder = tmp_path / 'ck'
    stale = folder / f'epoch-1.tmp-{dead_pid()}'
    stale.mkdir(parents=True)
    (stale / 'state.json').write_text('{')
    (folder / 'd2l_ncf.lock').write_text('123\n')  # a killed run's lock
    assert run(['--data-dir', synthetic_dir, '--epochs', '1', '--save',
                str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        'epoch-1', 'manifest.json']


ROOT = os.geteuid() == 0


@pytest.mark.parametrize('case', ['file', 'parent-file'] + (
    [] if ROOT else ['read-only']))
@pytest.mark.parametrize('command', ['train', 'exercise'])
def test_out_is_checked_before_any_work(case, command, synthetic_dir,
                                        tmp_path, usage_error):
    # (root passes chmod, so the read-only folder is tested as a user)
    blocker = tmp_path / 'taken'
    blocker.write_bytes(b'not a folder')
    out, message = {
        'file': (blocker, 'is a file, not a folder'),
        'parent-file': (blocker / 'run', 'is a file, so no folder'),
        'read-only': (tmp_path / 'ro' / 'run', 'is not writable'),
    }[case]
    if case == 'read-only':
        (tmp_path / 'ro').mkdir(mode=0o500)
    args = ([command] + SMALL + ['--epochs', '1'] if command == 'train'
            else ['exercise', 'factors', '--values', '4']
            + without(SMALL, '--num-factors')
            + ['--epochs', '1'])
    captured = usage_error(args + ['--data-dir', synthetic_dir, '--out',
                                   str(out)], message)
    assert 'train loss' not in captured.out
    assert blocker.read_bytes() == b'not a folder'


@pytest.fixture
def read_only_mount(tmp_path):
    """A read-only tmpfs (root can mount one; chmod does not stop root)."""
    where = tmp_path / 'ro-mount'
    where.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'ro,size=1m',
                           'tmpfs', str(where)], capture_output=True,
                          text=True, timeout=30)
    if done.returncode:
        pytest.skip(f'cannot mount a read-only tmpfs here: {done.stderr}')
    try:
        yield where
    finally:
        subprocess.run(['umount', str(where)], timeout=30)


@pytest.mark.parametrize('option', ['--out', '--save'])
def test_out_and_save_under_a_read_only_mount_are_refused_first(
        option, read_only_mount, synthetic_dir, usage_error):
    captured = usage_error(['train'] + SMALL + [
        '--epochs', '1', '--data-dir', synthetic_dir, option,
        str(read_only_mount / 'run')], 'read-only file system')
    assert 'train loss' not in captured.out
    assert os.listdir(read_only_mount) == []


def test_save_under_a_file_is_a_usage_error(synthetic_dir, tmp_path,
                                            usage_error):
    blocker = tmp_path / 'taken'
    blocker.write_bytes(b'x')
    usage_error(['train'] + SMALL + ['--data-dir', synthetic_dir, '--epochs',
                                     '1', '--save', str(blocker / 'ck')],
                'is a file, so no folder can be made there')
    assert blocker.read_bytes() == b'x'


def test_exercise_keeps_the_finished_rows_when_a_later_value_fails(
        synthetic_dir, tmp_path, capsys):
    out = tmp_path / 'ex'
    code = cli.main(['exercise', 'optim', '--values', 'adam:0.01:0',
                     'adam:1e38:0', '--data-dir', synthetic_dir, '--out',
                     str(out)] + SMALL + ['--epochs', '1'])
    assert code == 1
    captured = capsys.readouterr()
    assert "optim value 'adam:1e38:0' (seed 0) failed" in captured.err
    assert "the rows of 'adam:0.01:0' are kept" in captured.err
    with open(out / 'exercise.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['setting'] for r in rows] == ['adam:0.01:0']
    assert (out / 'exercise.md').read_text().count('adam:') == 1
    assert (out / 'exercise.png').stat().st_size > 0
    assert captured.out.startswith('setting adam:0.01:0')
    assert sorted(p.name for p in out.iterdir()) == [
        'exercise.csv', 'exercise.md', 'exercise.png']


# --- signals: a real `d2l-ncf train` process, stopped from outside ---

def start_run(tmp_path, save, batch='32', epochs='1000', extra=()):
    """A training run in a subprocess on data large enough that an epoch
    takes a moment; stderr goes to a file the test reads. `save` None:
    no --save; `extra`: more options."""
    data = write_udata(tmp_path / 'big', make_ratings(
        num_users=300, num_items=200, num_clusters=4, per_user=30))
    err = open(tmp_path / 'stderr.txt', 'w')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'd2l_ncf', 'train', '--data-dir', data,
         '--epochs', epochs, '--batch-size', batch] + (
            ['--save', str(save)] if save is not None else [])
        + SMALL[2:] + [str(a) for a in extra],
        stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=REPO))
    err.close()
    return proc, data


def wait_for(condition, proc, timeout=120):
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, 'the run ended on its own'
        assert time.monotonic() < end, 'timed out waiting for the run'
        time.sleep(0.05)


def stopped_line(tmp_path):
    err = (tmp_path / 'stderr.txt').read_text()
    assert 'Traceback' not in err, err
    lines = [line for line in err.splitlines() if 'stopped by' in line]
    assert len(lines) == 1, err
    return lines[0]


def test_sigint_stops_a_run_and_names_the_checkpoint_of_the_last_epoch(
        tmp_path, capsys):
    ck = tmp_path / 'ck'
    proc, data = start_run(tmp_path, ck)
    try:
        wait_for(lambda: (ck / 'manifest.json').exists(), proc)
        # meanwhile a second run saving there stops, and changes nothing
        assert cli.main(['train'] + SMALL + ['--data-dir', data, '--epochs',
                                             '2', '--save', str(ck),
                                             '--overwrite']) == 1
        assert (f'being saved into by another run (pid {proc.pid},'
                in capsys.readouterr().err)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        proc.kill()
        proc.wait(timeout=60)
    line = stopped_line(tmp_path)
    assert line.startswith('d2l-ncf: stopped by SIGINT ')
    epoch = load_checkpoint(str(ck))['state']['epoch']
    assert re.search(rf'SIGINT (in epoch {epoch + 1}, (after batch \d+ of \d+|'
                     rf'after its batches)|after epoch {epoch});', line)
    assert f'checkpoint {ck} holds epoch {epoch}; continue with ' in line
    assert sorted(p.name for p in ck.iterdir()) == [
        f'epoch-{epoch}', 'manifest.json']  # no temporary, no lock


def test_sigterm_before_the_first_epoch_ends_says_nothing_was_saved(
        tmp_path):
    ck = tmp_path / 'ck'
    proc, _ = start_run(tmp_path, ck, batch='8')  # an epoch of seconds
    try:
        wait_for(lambda: 'interactions of' in (
            tmp_path / 'stderr.txt').read_text(), proc)  # data loaded
        time.sleep(0.4)
        assert not (ck / 'manifest.json').exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143
    finally:
        proc.kill()
        proc.wait(timeout=60)
    line = stopped_line(tmp_path)
    assert re.match(r'd2l-ncf: stopped by SIGTERM (in epoch 1, after batch \d+ '
                    r'of \d+|before training);', line)
    assert line.endswith(f'no epoch finished, so {ck} holds no checkpoint')
    assert not ck.exists()  # the folder it made, empty, is gone


def test_a_stopped_run_says_what_it_left_in_out_and_save(tmp_path):
    # found by the new-user pass: --out is written when a run ends, so a
    # stopped run leaves none, and now says so beside the checkpoint
    ck, out = tmp_path / 'ck', tmp_path / 'run'
    proc, _ = start_run(tmp_path, ck, extra=['--out', out])
    try:
        wait_for(lambda: (ck / 'manifest.json').exists(), proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        proc.kill()
        proc.wait(timeout=60)
    line = stopped_line(tmp_path)
    epoch = load_checkpoint(str(ck))['state']['epoch']
    assert line.endswith(f'checkpoint {ck} holds epoch {epoch}; continue '
                         f'with --resume {ck}; nothing was written to '
                         f'--out {out}')
    assert not out.exists()


@pytest.mark.parametrize('delay', [0.3, 1.0])
def test_ctrl_c_while_the_command_loads_is_one_line_and_exit_130(
        tmp_path, delay):
    # found by the new-user pass: Ctrl-C during the imports printed a
    # KeyboardInterrupt traceback (numpy's C import even turned it into
    # an ImportError); now it is noted and stops the run at its first
    # safe point. (Before Python's own startup ends nothing can help.)
    out = tmp_path / 'run'
    proc, _ = start_run(tmp_path, None, extra=['--out', out])
    try:
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        proc.kill()
        proc.wait(timeout=60)
    line = stopped_line(tmp_path)  # one line, no traceback
    assert line.startswith('d2l-ncf: stopped by SIGINT')
    assert not out.exists()


def test_a_checkpoint_saved_while_waiting_for_the_lock_is_not_replaced(
        ck, synthetic_dir, tmp_path, monkeypatch, capsys):
    # another run saves into the folder between the first look and the
    # lock: the folder is looked at again once locked
    import d2l_ncf.runs.run
    target = tmp_path / 'new'

    class LateLock(SaveLock):
        def acquire(self):
            os.replace(ck, target)  # a checkpoint appears meanwhile
            super().acquire()
    monkeypatch.setattr(d2l_ncf.runs.run, 'SaveLock', LateLock)
    before = tree(target if target.exists() else ck)
    code = run(['--data-dir', synthetic_dir, '--epochs', '1', '--save',
                str(target)])
    assert code == 1
    assert 'already holds a checkpoint' in capsys.readouterr().err
    assert tree(target) == before


def test_a_manifest_listing_other_names_deletes_nothing_else(
        ck, synthetic_dir, tmp_path):
    # a save deletes only the checkpoint's own file names, whatever the
    # old manifest lists
    victim = tmp_path / 'victim.txt'
    victim.write_text('keep')
    (ck / 'notes.txt').write_text('keep too')
    m = manifest(ck)
    m['files']['../../victim.txt'] = {'bytes': 4, 'sha256': 'x'}
    m['files']['../notes.txt'] = {'bytes': 8, 'sha256': 'x'}
    (ck / 'manifest.json').write_text(json.dumps(m))
    assert run(['--data-dir', synthetic_dir, '--epochs', '2', '--resume',
                str(ck), '--save', str(ck)]) == 0
    assert victim.read_text() == 'keep'
    assert (ck / 'notes.txt').read_text() == 'keep too'


def test_an_interrupted_exercise_keeps_the_finished_rows(
        synthetic_dir, tmp_path, monkeypatch, capsys):
    import d2l_ncf.runs.exercises
    from d2l_ncf.runtime.stopping import Stopped
    real_fit, calls = d2l_ncf.runs.exercises.fit_one, []

    def fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Stopped(signal.SIGTERM)
        return real_fit(*args, **kwargs)
    monkeypatch.setattr(d2l_ncf.runs.exercises, "fit_one", fit)
    out = tmp_path / 'ex'
    code = cli.main(['exercise', 'factors', '--values', '4', '8',
                     '--data-dir', synthetic_dir, '--out', str(out)]
                    + without(SMALL, '--num-factors') + ['--epochs', '1'])
    assert code == 143
    err = capsys.readouterr().err
    assert ("d2l-ncf: stopped by SIGTERM in factors value '8' (seed 0); "
            "the rows of '4' are kept") in err and 'Traceback' not in err
    with open(out / 'exercise.csv') as f:
        assert [r['setting'] for r in csv.DictReader(f)] == ['4']


def test_a_signal_during_a_write_waits_for_the_write_to_finish(
        python_signal_handlers):
    from d2l_ncf.runtime.locking import deferred_signals
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            done.append('written')  # not cut short
    assert done == ['written']
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.slow
def test_sigterm_at_random_moments_always_stops_cleanly(tmp_path):
    # the handler only notes the signal and the loop stops at its next
    # safe point: a signal can no longer land inside MXNet's own code
    # (where an exception was once swallowed and the run went on)
    import random
    rng = random.Random(12)
    for n in range(8):
        run_dir = tmp_path / f'run{n}'
        run_dir.mkdir()
        ck = run_dir / 'ck'
        proc, _ = start_run(run_dir, ck)
        try:
            wait_for(lambda: 'interactions of' in (
                run_dir / 'stderr.txt').read_text(), proc)
            time.sleep(rng.uniform(0, 2.5))
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 143, (
                run_dir / 'stderr.txt').read_text()
        finally:
            proc.kill()
            proc.wait(timeout=60)
        line = stopped_line(run_dir)
        assert line.startswith('d2l-ncf: stopped by SIGTERM '), line
        left = sorted(p.name for p in ck.iterdir()) if ck.exists() else []
        assert not [name for name in left if 'tmp' in name or
                    name.endswith('.lock')], left


def test_a_second_signal_ends_the_process_at_once(python_signal_handlers):
    from d2l_ncf.runtime import stopping
    with stopping.stop_at_safe_points():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stopping.requested() == signal.SIGTERM  # noted, not raised
        for s in (signal.SIGINT, signal.SIGTERM):  # the next one kills
            assert signal.getsignal(s) == signal.SIG_DFL
        with pytest.raises(stopping.Stopped) as info:
            stopping.check()
        assert info.value.signum == signal.SIGTERM
    assert stopping.requested() is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_stop_line_does_not_share_a_line_with_the_progress_bar(
        tmp_path):
    data = write_udata(tmp_path / 'big', make_ratings(
        num_users=300, num_items=200, num_clusters=4, per_user=30))
    args = [a for a in SMALL if a != '--no-progress']
    with open(tmp_path / 'stderr.txt', 'w') as err:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'd2l_ncf', 'train', '--data-dir', data,
             '--epochs', '1000'] + args, stdout=subprocess.DEVNULL,
            stderr=err, env=dict(os.environ, PYTHONPATH=REPO))
    try:
        wait_for(lambda: 'batch/s' in (tmp_path / 'stderr.txt').read_text(),
                 proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    finally:
        proc.kill()
        proc.wait(timeout=60)
    raw = (tmp_path / 'stderr.txt').read_text()
    assert 'Traceback' not in raw
    at = raw.index('d2l-ncf: stopped by SIGTERM')
    assert raw[at - 1] == '\n', repr(raw[at - 200:at + 40])


@pytest.mark.parametrize('unbuffered', ['', '1'])
def test_output_into_a_closed_pipe_still_writes_out_and_exits_0(
        synthetic_dir, tmp_path, unbuffered):
    # `d2l-ncf train ... --out DIR | head -1` where the reader is gone
    # before the run prints: the write fails at once (PYTHONUNBUFFERED)
    # or at exit; either way --out is written, no traceback, exit 0
    out = tmp_path / 'out'
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone: every write breaks
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED=unbuffered)
    if not unbuffered:
        del env['PYTHONUNBUFFERED']
    with open(tmp_path / 'stderr.txt', 'w') as err:
        proc = subprocess.run(
            [sys.executable, '-m', 'd2l_ncf', 'train', '--data-dir',
             synthetic_dir, '--epochs', '2', '--out', str(out)] + SMALL,
            stdout=write_end, stderr=err, env=env, timeout=300)
    os.close(write_end)
    stderr = (tmp_path / 'stderr.txt').read_text()
    assert proc.returncode == 0, stderr
    assert 'Traceback' not in stderr and 'Broken' not in stderr, stderr
    record = json.loads((out / 'metrics.json').read_text())
    assert [r['epoch'] for r in record['history']] == [1, 2]
    assert (out / 'curves.png').stat().st_size > 0


def test_a_reader_that_stops_after_the_first_line_breaks_nothing(
        synthetic_dir, tmp_path):
    out = tmp_path / 'out'
    proc = subprocess.Popen(
        [sys.executable, '-m', 'd2l_ncf', 'train', '--data-dir',
         synthetic_dir, '--epochs', '2', '--out', str(out)] + SMALL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED='1'))
    try:
        first = proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=300) == 0, stderr
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert first.startswith(b'train loss ')
    assert 'Traceback' not in stderr, stderr
    assert json.loads((out / 'metrics.json').read_text())['history']


@pytest.mark.parametrize('option', ['--data', '--data-dir'])
def test_resume_names_a_relative_data_path_from_the_checkpoint(
        synthetic_dir, tmp_path, monkeypatch, capsys, option):
    # trained with a relative data path, resumed from another folder:
    # the message says the path came from the checkpoint and how to point
    # at the data; passing it again resumes
    import shutil
    monkeypatch.chdir(tmp_path)
    shutil.copytree(synthetic_dir, tmp_path / 'ml')
    data = 'ml/u.data' if option == '--data' else 'ml'
    extra = ['--sep', '\t', '--columns', 'user,item,rating,timestamp'] \
        if option == '--data' else []
    assert run([option, data, '--epochs', '1', '--save', 'ck'] + extra) == 0
    (tmp_path / 'sub').mkdir()
    monkeypatch.chdir(tmp_path / 'sub')
    capsys.readouterr()
    code = cli.main(['train', '--resume', '../ck', '--epochs', '2',
                     '--no-progress'])
    assert code == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    assert (f"{option} 'ml{'/u.data' if option == '--data' else ''}' came "
            f"from the checkpoint's config (../ck)") in err, err
    assert 'a relative path, relative to where the model was trained' in err
    assert f'pass {option} again with the path from here' in err
    # the data passed again: the run resumes
    assert cli.main(['train', '--resume', '../ck', '--epochs', '2',
                     '--no-progress', option, '../' + data]) == 0


# --- links and outputs that fail only when written (issue 23) ---

def small_command(command, synthetic_dir):
    return ([command] + SMALL + ['--epochs', '1'] if command == 'train'
            else ['exercise', 'factors', '--values', '4']
            + without(SMALL, '--num-factors') + ['--epochs', '1']) + [
                '--data-dir', synthetic_dir]


@pytest.mark.parametrize('command, option', [
    ('train', '--out'), ('train', '--save'), ('exercise', '--out')])
def test_a_dangling_link_as_an_output_is_refused_with_a_message(
        command, option, synthetic_dir, tmp_path, usage_error):
    # makedirs raised FileExistsError from locking.py (a traceback)
    link = tmp_path / 'link'
    link.symlink_to(tmp_path / 'nowhere')
    captured = usage_error(small_command(command, synthetic_dir)
                           + [option, str(link)],
                           'is a symbolic link to')
    assert 'train loss' not in captured.out
    assert os.readlink(link) == str(tmp_path / 'nowhere')
    assert not (tmp_path / 'nowhere').exists()


def test_a_link_to_a_folder_is_followed(synthetic_dir, tmp_path):
    target = tmp_path / 'target'
    target.mkdir()
    (tmp_path / 'link').symlink_to(target)
    assert run(['--epochs', '1', '--data-dir', synthetic_dir, '--save',
                str(tmp_path / 'link')]) == 0
    assert (target / 'manifest.json').is_file()
    load_checkpoint(str(tmp_path / 'link'))  # and --resume reads it


@pytest.mark.skipif(not ROOT, reason='as a user, permissions refuse first')
@pytest.mark.parametrize('option, path', [('--out', '/proc/d2l_ncf_out'),
                                          ('--save', '/sys/d2l_ncf_save')])
def test_a_folder_that_fails_only_when_written_is_refused_first(
        option, path, synthetic_dir, usage_error):
    # root passes every permission check there; the write fails
    captured = usage_error(small_command('train', synthetic_dir)
                           + [option, path], f'{option} {path}: cannot '
                                             f'write there')
    assert 'train loss' not in captured.out
    assert not os.path.exists(path)


def file_size_limited(limit):
    """A preexec_fn: files of the process may not grow beyond `limit`
    bytes (a disk that fills during the run; Python ignores SIGXFSZ, so
    a write beyond fails with EFBIG)."""
    import resource

    def limit_it():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limit_it


@pytest.mark.parametrize('command', ['train', 'exercise'])
def test_a_write_that_fails_after_training_keeps_the_numbers(
        command, synthetic_dir, tmp_path):
    # the probe's block fits, the outputs do not: today a traceback
    # after training, and the measured numbers were lost
    out = tmp_path / 'out'
    env = dict(os.environ, PYTHONPATH=REPO)
    done = subprocess.run(
        [sys.executable, '-m', 'd2l_ncf'] + small_command(
            command, synthetic_dir) + ['--out', str(out)],
        preexec_fn=file_size_limited(4096), env=env, capture_output=True,
        text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert 'Traceback' not in done.stderr
    assert f'--out {out}: writing' in done.stderr
    if command == 'train':
        assert 'curves.png failed (File too large)' in done.stderr
        final = json.loads(done.stdout.split('final ', 1)[1])
        assert 0 <= final['hit_rate'] <= 1 and final['examples'] > 0
    else:
        assert done.stdout.startswith('setting 4, ')  # the finished row
    assert not [p for p in out.iterdir() if '.tmp' in p.name]


def test_resume_from_a_dangling_link_says_it_is_one(synthetic_dir, tmp_path,
                                                    capsys):
    link = tmp_path / 'link'
    link.symlink_to(tmp_path / 'nowhere')
    assert run(['--epochs', '2', '--data-dir', synthetic_dir, '--resume',
                str(link)]) == 1
    assert (f'a symbolic link to {tmp_path / "nowhere"}, which does not '
            f'exist') in capsys.readouterr().err


def test_a_save_that_fails_during_training_keeps_the_numbers(
        synthetic_dir, tmp_path):
    # the probe's block fits, model.params does not: the message names
    # the folder and the epochs' metrics are on stdout
    env = dict(os.environ, PYTHONPATH=REPO)
    done = subprocess.run(
        [sys.executable, '-m', 'd2l_ncf'] + small_command(
            'train', synthetic_dir) + ['--save', str(tmp_path / 'ck')],
        preexec_fn=file_size_limited(4096), env=env, capture_output=True,
        text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert 'Traceback' not in done.stderr
    assert 'could not write the checkpoint' in done.stderr
    history = json.loads(done.stdout.split('history ', 1)[1])
    assert [row['epoch'] for row in history] == [1]
    assert 0 <= history[0]['hit_rate'] <= 1
    assert not (tmp_path / 'ck').exists()  # nothing half-written left
