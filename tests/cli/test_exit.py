"""The command's quick exit (`pipes.leave`, issue 15's start-up and
shut-down time): the output is complete and the exit status kept; the
interpreter's teardown is skipped only when nothing needs it."""
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

SCRIPT = textwrap.dedent('''\
    import atexit, multiprocessing, os, sys, threading, time
    from d2l_ncf.runtime.pipes import guard_std_streams, leave
    guard_std_streams()
    atexit.register(lambda: print('teardown ran', file=sys.stderr))
    {setup}
    print('x' * 100000)
    sys.exit(leave({code}))
    ''')


def run(setup='', code='3', stdout=subprocess.PIPE):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop('DMLC_ROLE', None)
    return subprocess.run(
        [sys.executable, '-c', SCRIPT.format(setup=setup, code=code)],
        stdout=stdout, stderr=subprocess.PIPE, text=True, env=env,
        timeout=120)


def test_a_quick_exit_flushes_everything_and_keeps_the_status():
    done = run()
    assert done.returncode == 3
    assert done.stdout == 'x' * 100000 + '\n'
    assert 'teardown ran' not in done.stderr  # skipped: nothing needs it


@pytest.mark.parametrize('code,status', [('None', 0), ('0', 0)])
def test_no_status_is_success(code, status):
    assert run(code=code).returncode == status


def test_a_message_goes_to_sys_exit_as_usual():
    done = run(code="'d2l-ncf: stopped'")
    assert done.returncode == 1
    assert 'd2l-ncf: stopped' in done.stderr


def test_a_distributed_process_tears_down():
    # MXNet's exit barrier and the servers' stop run at teardown
    done = run("os.environ['DMLC_ROLE'] = 'worker'")
    assert done.returncode == 3 and 'teardown ran' in done.stderr


def test_a_running_thread_is_waited_for():
    done = run("threading.Thread(target=lambda: (time.sleep(0.3), print("
               "'thread done', file=sys.stderr))).start()")
    assert done.returncode == 3
    assert 'thread done' in done.stderr and 'teardown ran' in done.stderr


def test_a_child_process_is_stopped_by_the_teardown():
    done = run("child = multiprocessing.Process(target=time.sleep, "
               "args=(60,), daemon=True); child.start(); "
               "print('child', child.pid, file=sys.stderr)")
    assert done.returncode == 3 and 'teardown ran' in done.stderr
    pid = int(done.stderr.split('child ')[1].split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # not left behind


@pytest.mark.skipif(not os.path.exists('/dev/full'), reason='no /dev/full')
def test_output_lost_to_a_full_disk_is_an_error_not_a_success():
    with open('/dev/full', 'w') as full:
        done = run(code='0', stdout=full)
    assert done.returncode == 1
    assert ('d2l-ncf: error: writing to stdout failed (No space left on '
            'device); output was lost') in done.stderr
    assert 'Traceback' not in done.stderr
    # a failing run keeps its own code
    with open('/dev/full', 'w') as full:
        assert run(code='2', stdout=full).returncode == 2


@pytest.mark.skipif(not os.path.exists('/dev/full'), reason='no /dev/full')
@pytest.mark.parametrize('command', [[], ['train'], ['launch'],
                                     ['recommend'], ['exercise'],
                                     ['compare'], ['ablation']])
def test_help_lost_to_a_full_disk_is_an_error(command):
    # argparse's help ends in SystemExit(0), which skipped `leave` and its
    # check of the output (issue 23: `--help > /dev/full` exited 0)
    env = dict(os.environ, PYTHONPATH=REPO)
    with open('/dev/full', 'w') as full:
        done = subprocess.run(
            [sys.executable, '-m', 'd2l_ncf'] + command + ['--help'],
            stdout=full, stderr=subprocess.PIPE, text=True, env=env,
            timeout=120)
    assert done.returncode == 1, done.stderr
    assert 'writing to stdout failed' in done.stderr
    assert 'Traceback' not in done.stderr
