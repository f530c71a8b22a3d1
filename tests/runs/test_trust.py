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
        wait_for_line(a, 'users')  # the data summary: after the checks
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
