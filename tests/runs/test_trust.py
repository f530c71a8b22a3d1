"""Issue 32's cases in compare, recommend, checkpoints, records, the
folder locks, numerics and the baselines: each test pins one defect
found by the adversarial pass (it failed before the fix)."""
import json
import math
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from d2l_ncf import cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SMALL = ['--batch-size', '32', '--num-factors', '4', '--hiddens', '4', '4',
         '--no-progress', '--protocol', 'corrected', '--devices', 'cpu',
         '--k', '10']
TIMEOUT = 240  # seconds any subprocess may take: a bound, not a measure


def start_train(data_dir, out, epochs, seed, tmp_path, name):
    """A `d2l-ncf train` process into `out`; its stdout goes to a file,
    its stderr to a pipe (`wait_for_line`)."""
    env = dict(os.environ, PYTHONPATH=REPO)
    stdout = open(tmp_path / f'{name}.out', 'w')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'd2l_ncf', 'train', *SMALL, '--data-dir',
         str(data_dir), '--epochs', str(epochs), '--seed', str(seed),
         '--out', str(out)], stdout=stdout, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, env=env, text=True)
    stdout.close()
    return proc


def wait_for_line(proc, text, timeout=TIMEOUT):
    """Read `proc`'s stderr until a line holding `text`; the lines."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if not ready:
            continue
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f'no line with {text!r} from the run: {lines}')


def finish(proc):
    """Wait for `proc` (bounded); (exit status, rest of its stderr)."""
    _, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, err


def end(proc):
    """Kill `proc` if it still runs (also when stopped) and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=60)


# -- two runs into one --out ------------------------------------------------

def test_two_trains_into_one_out_never_both_succeed(synthetic_dir, tmp_path):
    # A is past the check of --out and training (held still by SIGSTOP
    # so that it cannot finish meanwhile); B starts into the same folder.
    # Before: both exited 0 and A's metrics.json replaced B's.
    out = tmp_path / 'race'
    a = start_train(synthetic_dir, out, 3, 1, tmp_path, 'a')
    b = None
    try:
        wait_for_line(a, ' users on ')  # the data summary: after the checks
        a.send_signal(signal.SIGSTOP)
        b = start_train(synthetic_dir, out, 1, 2, tmp_path, 'b')
        code_b, err_b = finish(b)
        a.send_signal(signal.SIGCONT)
        code_a, err_a = finish(a)
    finally:
        for proc in (a, b):
            if proc is not None:
                end(proc)  # SIGKILL ends a stopped process too
    assert code_a == 0, err_a
    assert code_b == 1
    assert f'--out {out} is being written by another run (pid {a.pid})' \
        in err_b
    assert 'Traceback' not in err_b
    record = json.loads((out / 'metrics.json').read_text())
    assert record['config']['seed'] == 1  # A's result, kept
    assert [p.name for p in out.iterdir() if 'tmp' in p.name] == []


def held_by_other_process(folder, tmp_path):
    """A process that holds `folder` as a run's --out does, until killed."""
    code = ('import sys; from d2l_ncf.runs.records import check_out_dir; '
            'check_out_dir(sys.argv[1]); print("held", flush=True); '
            'sys.stdin.read()')
    proc = subprocess.Popen(
        [sys.executable, '-c', code, str(folder)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=REPO))
    ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
    assert ready and proc.stdout.readline() == 'held\n'
    return proc


@pytest.mark.parametrize('command', [
    ['exercise', 'factors', '--values', '4', '--seeds', '0', '--k', '10'],
    ['ablation', '--models', 'popularity', '--seeds', '0', '--evals',
     'sampled', '--eval-negatives', '20']])
def test_exercise_and_ablation_refuse_an_out_another_run_writes(
        command, synthetic_dir, tmp_path, capsys):
    out = tmp_path / 'shared'
    holder = held_by_other_process(out, tmp_path)
    try:
        code = cli.main(command + [
            '--data-dir', synthetic_dir, '--epochs', '1', '--devices', 'cpu',
            '--no-progress', '--batch-size', '32', '--out',
            str(out)])
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert code == 1
    assert (f'--out {out} is being written by another run (pid '
            f'{holder.pid})') in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


# -- compare ----------------------------------------------------------------

def record(final=None, **extra):
    """A minimal metrics.json record."""
    return dict({'history': [{'epoch': 1, 'loss': 0.5, 'hit_rate': 0.25}],
                 'final': final or {'loss': 0.5, 'hit_rate': 0.25}}, **extra)


def write(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


def compare(capsys, *argv):
    code = cli.main(['compare', *argv])
    return code, capsys.readouterr()


@pytest.mark.parametrize('numerics', ['portable', ['portable'], 3,
                                      {'mode': 'native',
                                       'environment': 'OMP=1'}])
def test_compare_names_numerics_that_is_not_an_object(numerics, tmp_path,
                                                      capsys):
    run = write(tmp_path / 'run.json', record(numerics=numerics))
    base = write(tmp_path / 'base.json', record(
        numerics={'mode': 'portable', 'environment': {}}))
    for args in ((run, base), (base, run)):
        code, printed = compare(capsys, *args)
        assert code == 2
        assert f'{run}: "numerics' in printed.err
        assert 'expected an object' in printed.err


def bounded_compare(*argv):
    """`d2l-ncf compare` in a process bounded in time and memory (an
    unbounded read is a failure, not a stall of the test run)."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    return subprocess.run(
        [sys.executable, '-m', 'd2l_ncf', 'compare', *map(str, argv)],
        capture_output=True, text=True, timeout=TIMEOUT,
        stdin=subprocess.DEVNULL, preexec_fn=limit,
        env=dict(os.environ, PYTHONPATH=REPO))


def test_compare_refuses_a_device_before_reading_it(tmp_path):
    base = write(tmp_path / 'base.json', record())
    done = bounded_compare('/dev/zero', base)  # endless bytes
    assert done.returncode == 2
    assert ('/dev/zero: not a regular file (a character device)'
            in done.stderr)


def test_compare_refuses_a_file_beyond_the_size_limit(tmp_path, capsys):
    from d2l_ncf.runs import compare as module
    big = tmp_path / 'big.json'
    with open(big, 'wb') as f:  # sparse: no disk used
        f.truncate(module.MAX_BYTES + 1)
    code, printed = compare(capsys, str(big), write(tmp_path / 'b.json',
                                                    record()))
    assert code == 2
    assert f'{big}: {module.MAX_BYTES + 1} bytes, more than any ' \
        in printed.err


def test_compare_on_a_fifo_is_refused_not_a_hang(tmp_path):
    fifo = tmp_path / 'f.json'
    os.mkfifo(fifo)
    base = write(tmp_path / 'base.json', record())
    done = bounded_compare(fifo, base)  # a hang is a timeout, not a stall
    assert done.returncode == 2
    assert f'{fifo}: not a regular file (a named pipe (FIFO))' in done.stderr


@pytest.mark.parametrize('value, ref', [
    (math.inf, -math.inf), (-math.inf, math.inf), (math.inf, 5.0),
    (5.0, math.inf), (5.0, -math.inf)])
def test_compare_rtol_does_not_call_inf_equal_to_5(value, ref, tmp_path,
                                                   capsys):
    run = write(tmp_path / 'run.json', record({'loss': value}))
    base = write(tmp_path / 'base.json', record({'loss': ref}))
    code, printed = compare(capsys, run, base, '--rtol', '0.01')
    assert code == 1
    assert '1 drifted' in printed.out


def test_compare_rtol_keeps_inf_equal_to_the_same_inf(tmp_path, capsys):
    run = write(tmp_path / 'run.json', record({'loss': math.inf}))
    code, printed = compare(capsys, run, run, '--rtol', '0.01')
    assert code == 0


def test_compare_metrics_named_twice_count_once(tmp_path, capsys):
    run = write(tmp_path / 'run.json', record())
    base = write(tmp_path / 'base.json', record({'loss': 0.6,
                                                 'hit_rate': 0.25}))
    code, printed = compare(capsys, run, base, '--metrics', 'loss', 'loss')
    assert code == 1
    assert '1 of 2 values within' in printed.out  # epoch 1 and final
    assert '1 drifted' in printed.out


# -- recommend --------------------------------------------------------------

def movielens_folder(folder, seed=0):
    """Synthetic ratings with a MovieLens title file for all 40 items."""
    from synthetic import make_ratings, write_udata
    folder = write_udata(folder, make_ratings(seed=seed))
    with open(os.path.join(folder, 'u.item'), 'w', encoding='latin-1') as f:
        for i in range(1, 41):
            f.write(f'{i}|Film {i}|01-Jan-1995||http://x|0|1\n')
    return folder


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """(a checkpoint trained one epoch on synthetic data, its folder)."""
    root = tmp_path_factory.mktemp('trained')
    folder = movielens_folder(root / 'ml')
    ck = str(root / 'ck')
    assert cli.main(['train', '--data-dir', folder, '--save', ck, '--epochs',
                     '1', '--seed', '0'] + SMALL) == 0
    return ck, folder


def test_recommend_user_1_0_is_refused_not_user_10(trained, capsys):
    ck, _ = trained
    capsys.readouterr()
    assert cli.main(['recommend', '--checkpoint', ck, '--user', '1_0']) == 2
    printed = capsys.readouterr()
    assert "user '1_0' is not a user id: expected the digits 0-9" \
        in printed.err
    assert printed.out == ''


@pytest.mark.parametrize('k, error, message', [
    (-1, ValueError, 'k = -1: expected a whole number of items to list, '
                     'at least 1'),
    (0, ValueError, 'k = 0: expected'),
    (2.5, TypeError, 'k = 2.5: expected a whole number'),
    (True, TypeError, 'k = True: expected')])
def test_recommend_k_negative_zero_or_fractional_is_a_named_error(
        trained, k, error, message):
    from d2l_ncf.runs.recommending import recommend
    with pytest.raises(error) as err:
        recommend(trained[0], 3, k=k)
    assert message in str(err.value)


def test_recommend_user_1_9_is_not_user_1(trained):
    from d2l_ncf.runs.recommending import recommend
    with pytest.raises(TypeError, match=r'user = 1\.9: expected a user id'):
        recommend(trained[0], 1.9, k=3)
    assert len(recommend(trained[0], 1, k=3)) == 3  # an int is an id


def test_recommend_refuses_a_data_dir_of_other_data(trained, tmp_path,
                                                    capsys):
    from d2l_ncf.runs.recommending import TitlesNotFoundError, recommend
    ck, folder = trained
    other = movielens_folder(tmp_path / 'other', seed=5)  # same ids, other
    with pytest.raises(TitlesNotFoundError) as err:        # interactions
        recommend(ck, 3, k=3, data_dir=other)
    message = str(err.value)
    assert f'--data-dir {other} holds other data than {ck} was trained on' \
        in message
    assert message.count('fingerprint') == 2  # the checkpoint's and its
    capsys.readouterr()
    assert cli.main(['recommend', '--checkpoint', ck, '--user', '3',
                     '--data-dir', other]) == 2
    printed = capsys.readouterr()
    assert 'holds other data than' in printed.err and printed.out == ''
    # the folder it was trained on is accepted
    assert len(recommend(ck, 3, k=3, data_dir=folder)) == 3


# -- checkpoints ------------------------------------------------------------

def rewrite(ck, name, change):
    """Change file `name` of checkpoint `ck` by `change(path)`, then put
    its size and digest in the manifest, as a careful hand-edit would."""
    from d2l_ncf.datasets.formats import file_digest
    manifest_path = os.path.join(ck, 'manifest.json')
    with open(manifest_path) as f:
        manifest = json.load(f)
    path = os.path.join(ck, manifest['folder'], name)
    change(path)
    manifest['files'][name] = {'bytes': os.path.getsize(path),
                               'sha256': file_digest(path, 'sha256')}
    with open(manifest_path, 'w') as f:
        json.dump(manifest, f)


@pytest.fixture
def own_ck(trained, tmp_path):
    """A copy of the trained checkpoint, to damage."""
    import shutil
    ck = str(tmp_path / 'ck')
    shutil.copytree(trained[0], ck)
    return ck, trained[1]


def test_checkpoint_with_num_factors_minus_1_fails_the_config_validation(
        own_ck, capsys):
    from d2l_ncf.runs.checkpoint import CheckpointError, load_checkpoint
    ck, _ = own_ck

    def edit(path):
        with open(path) as f:
            config = json.load(f)
        config['num_factors'] = -1
        with open(path, 'w') as f:
            json.dump(config, f)
    rewrite(ck, 'config.json', edit)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(ck)
    assert 'config.json: --num-factors must be a whole number >= 1' in str(
        err.value)
    capsys.readouterr()
    assert cli.main(['recommend', '--checkpoint', ck, '--user', '3']) == 1
    printed = capsys.readouterr()
    assert 'num-factors must be a whole number >= 1' in printed.err
    assert 'Traceback' not in printed.err
    assert 'MXNetError' not in printed.err


def test_resuming_a_checkpoint_of_nan_parameters_blames_the_checkpoint(
        own_ck, capsys):
    import mxnet as mx
    ck, folder = own_ck

    def poison(path):
        params = mx.nd.load(path)
        first = sorted(params)[0]
        params[first] = params[first] * float('nan')
        mx.nd.save(path, params)
    rewrite(ck, 'model.params', poison)
    capsys.readouterr()
    code = cli.main(['train', '--data-dir', folder, '--resume', ck,
                     '--epochs', '2', '--no-progress', '--devices', 'cpu'])
    assert code == 1
    err = capsys.readouterr().err
    assert 'the checkpoint holds non-finite parameters' in err
    assert '--lr' not in err
    assert cli.main(['recommend', '--checkpoint', ck, '--user', '3']) == 1
    assert 'non-finite parameters' in capsys.readouterr().err


@pytest.mark.parametrize('argv, option', [
    (['train', '--save', ''], '--save'), (['train', '--out', ''], '--out'),
    (['exercise', 'hiddens', '--values', '4', '--out', ''], '--out')])
def test_an_empty_save_or_out_path_is_refused_before_training(
        argv, option, synthetic_dir, usage_error):
    small = ['--batch-size', '32', '--num-factors', '4', '--no-progress',
             '--devices', 'cpu', '--k', '10', '--protocol', 'corrected']
    printed = usage_error(argv + small + ['--data-dir', synthetic_dir,
                                          '--epochs', '1'],
                          f"{option} '': expected a folder name")
    assert 'loss' not in printed.out  # refused before any training


# -- numerics ---------------------------------------------------------------

@pytest.mark.parametrize('threads', ['abc', '100000', '4,2'])
def test_native_numerics_refuse_an_omp_num_threads_mxnet_dies_on(
        threads, synthetic_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS=threads)
    env.pop('D2L_NCF_NUMERICS', None)
    done = subprocess.run(
        [sys.executable, '-m', 'd2l_ncf', 'train', *SMALL, '--data-dir',
         synthetic_dir, '--epochs', '1', '--numerics', 'native', '--out',
         str(tmp_path / 'run')], capture_output=True, text=True,
        timeout=TIMEOUT, stdin=subprocess.DEVNULL, env=env)
    assert done.returncode == 2, done.stderr[-500:]  # was 134 or 139
    assert (f"OMP_NUM_THREADS={threads!r}: expected a whole number of "
            f"threads from 1 to 1024") in done.stderr
    assert 'terminate called' not in done.stderr
    assert not (tmp_path / 'run').exists()


def test_native_numerics_keep_a_valid_omp_num_threads():
    from d2l_ncf.runtime import numerics
    for value in ('1', ' 4', '1024', ''):
        numerics.check_threads({'D2L_NCF_NUMERICS': 'native',
                                'OMP_NUM_THREADS': value})
    numerics.check_threads({'OMP_NUM_THREADS': 'abc'})  # portable sets 1


# -- the baselines' Python API ----------------------------------------------

def initialised(net):
    import mxnet as mx
    net.initialize(ctx=mx.cpu())
    return net


@pytest.mark.parametrize('make', ['MF', 'GMF'])
@pytest.mark.parametrize('users, items, message', [
    ([0], [7], 'item index 7 is outside 0 to 6 (the model has 7 items)'),
    ([5], [0], 'user index 5 is outside 0 to 4 (the model has 5 users)'),
    ([0], [-1], 'item index -1 is outside 0 to 6'),
    ([0], [1.5], 'item index 1.5 is not a whole number')])
def test_mf_and_gmf_refuse_to_score_an_index_outside_their_tables(
        make, users, items, message):
    from mxnet import np
    from d2l_ncf import baselines
    net = initialised(getattr(baselines, make)(4, 5, 7))
    with pytest.raises(ValueError) as err:
        net(np.array(users), np.array(items))
    assert f'{make}: {message}' in str(err.value)
    assert net(np.array([4]), np.array([6.0])).shape == (1, 1)  # in range


def test_an_unfitted_popularity_refuses_to_score():
    from mxnet import np
    from d2l_ncf.baselines import Popularity
    net = initialised(Popularity(5))
    with pytest.raises(RuntimeError, match='Popularity: not fitted; call '
                                           r'fit\(items_train\)'):
        net(np.array([0]), np.array([1]))
    net.fit([1, 1, 2])
    assert net(np.array([0]), np.array([1])).item() == 2


@pytest.mark.parametrize('items, message', [
    ([1.7, 2.0], 'item index 1.7 is not a whole number'),
    ([1, 5], 'item index 5 is outside 0 to 4'),
    ([-1], 'item index -1 is outside 0 to 4')])
def test_popularity_fit_refuses_float_or_out_of_range_ids(items, message):
    from d2l_ncf.baselines import Popularity
    net = initialised(Popularity(5))
    with pytest.raises(ValueError, match=f'Popularity.fit: {message}'):
        net.fit(items)


@pytest.mark.parametrize('make, args, error, message', [
    ('MF', (4.5, 5, 7), TypeError, 'MF: num_factors = 4.5; expected a '
                                   'whole number (an int) >= 1'),
    ('GMF', (4, 0, 7), ValueError, 'GMF: num_users = 0; expected'),
    ('MLP', (4, 5, '7', [8]), TypeError, "MLP: num_items = '7'"),
    ('MLP', (4, 5, 7, 8), TypeError, 'MLP: nums_hiddens = 8; expected a '
                                     'list'),
    ('Popularity', (-3,), ValueError, 'Popularity: num_items = -3')])
def test_baseline_sizes_are_named_when_wrong(make, args, error, message):
    from d2l_ncf import baselines
    with pytest.raises(error) as err:
        getattr(baselines, make)(*args)
    assert message in str(err.value)


# -- unclear messages -------------------------------------------------------

def test_an_unwritable_cache_is_not_called_a_failed_download(
        tmp_path, monkeypatch, capsys):
    from d2l_ncf.datasets.movielens import DataNotFoundError, download_ml100k
    blocker = tmp_path / 'a-file'
    blocker.write_text('not a folder')  # root writes anywhere: a file
    cache = blocker / 'cache'           # in the way is what stops it
    monkeypatch.setenv('D2L_NCF_CACHE', str(cache))
    monkeypatch.delenv('D2L_NCF_DATA_DIR', raising=False)
    with pytest.raises(DataNotFoundError) as err:
        download_ml100k()
    message = str(err.value)
    assert (f'cannot download MovieLens-100K: the download folder {cache} '
            f'($D2L_NCF_CACHE) is not writable') in message
    assert 'could not download' not in message
    assert cli.main(['train', '--epochs', '1', '--no-progress', '--devices',
                     'cpu']) == 2
    assert 'is not writable' in capsys.readouterr().err


def test_a_lock_folder_that_cannot_be_made_is_a_message(tmp_path,
                                                        monkeypatch):
    import tempfile
    from d2l_ncf.runs.records import check_out_dir
    from d2l_ncf.runtime.locking import FolderBusyError
    blocker = tmp_path / 'tmp-is-a-file'
    blocker.write_text('')
    monkeypatch.setattr(tempfile, 'tempdir', str(blocker))
    with pytest.raises(FolderBusyError, match='cannot make the lock that '
                                              'keeps a second run out'):
        check_out_dir(str(tmp_path / 'out'))


def test_a_finished_exercise_lets_another_run_have_its_out(synthetic_dir,
                                                           tmp_path):
    out = tmp_path / 'ex'
    assert cli.main(['exercise', 'factors', '--values', '4', '--seeds', '0',
                     '--k', '10', '--data-dir', synthetic_dir, '--epochs',
                     '1', '--devices', 'cpu', '--no-progress',
                     '--batch-size', '32', '--out', str(out)]) == 0
    holder = held_by_other_process(out, tmp_path)  # not refused as busy
    holder.stdin.close()
    assert holder.wait(timeout=60) == 0
