"""What a run writes, and where: the folders it may write (checked
before any work), the record of a run (settings, data, versions,
numerics, history) and its files, metrics.json and curves.png."""
import json
import os
import platform
import sys

from ..runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
import mxnet as mx
import numpy

from ..runtime import numerics
from ..runtime.locking import hold_folder, release_folder
from .checkpoint import CheckpointError, other_files
from .checkpoint_folder import is_checkpoint
from .config import UsageError, config_dict
from .plotting import save_curves

OUTPUT_FILES = ('metrics.json', 'curves.png')


class OutputExistsError(FileExistsError):
    """The output folder already holds a run's files."""


def check_out_dir(out, overwrite=False, files=OUTPUT_FILES,
                  option='--out'):
    """Check that folder `out` can be written, before any work; refuse
    to write over an earlier run's `files` unless told to. The folder is
    then this process's to write (`locking.hold_folder`): another run
    into it is refused until `write_outputs` (or `release_out`) lets it
    go, or this process ends."""
    if out is None:
        return
    check_writable_folder(out, option)
    # one writer at a time: held until the run has written (or the
    # process ends), so two runs into one folder never both succeed
    hold_folder(out, option)
    if overwrite:
        return
    # looked at under the lock: a run that just finished may have
    # written there since
    taken = [f for f in files if os.path.exists(os.path.join(out, f))]
    if taken:
        release_folder(out)
        raise OutputExistsError(
            f'{out} already holds {", ".join(taken)} from an earlier run; '
            f'choose another folder or pass --overwrite')


class OutputWriteError(ValueError):
    """A file of the run's output could not be written."""


def check_writable_folder(path, option):
    """`path` is a folder, or can be made one, that we may write in:
    checked by writing there (`probe_write`), since permissions do not
    tell (root may write nowhere under /proc or /sys; a disk may be
    full)."""
    if not path:
        raise UsageError(f"{option} '': an empty path names no folder; "
                         f"expected a folder to write to")
    if os.path.islink(path) and not os.path.exists(path):
        raise UsageError(
            f'{option} {path} is a symbolic link to '
            f'{os.readlink(path)}, which does not exist: create that '
            f'folder or choose another (the link was not changed)')
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f'{option} {path} is a file, not a folder; '
                         f'choose a folder (the file was not changed)')
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f'{option} {path}: {parent} is a file, so no '
                         f'folder can be made there')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f'{option} {path}: {parent} is not writable '
                         f'(permissions or a read-only file system)')
    probe_write(path, option)


PROBE_BYTES = 4096  # one block: a full disk refuses it


def probe_write(path, option):
    """Make folder `path` if needed, write and sync a block there, then
    leave everything as it was; a failure is a `UsageError` before any
    work instead of a lost run after it."""
    made, folder = [], os.path.abspath(path)
    while not os.path.exists(folder):
        made.append(folder)
        folder = os.path.dirname(folder)
    probe = os.path.join(os.path.abspath(path),
                         f'.d2l_ncf-probe-{os.getpid()}')
    try:
        for folder in reversed(made):
            os.mkdir(folder)
        with open(probe, 'wb') as f:
            f.write(b'\0' * PROBE_BYTES)
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        raise UsageError(
            f'{option} {path}: cannot write there ({err.strerror or err}); '
            f'choose another folder') from None
    finally:
        if os.path.lexists(probe):
            os.remove(probe)
        for folder in made:  # deepest first
            if os.path.isdir(folder):
                os.rmdir(folder)


def check_save_dir(save, resume=None, overwrite=False):
    """Refuse, before any work, a --save folder that is a file, that
    holds anything but a checkpoint (whatever --overwrite says), or that
    holds another checkpoint without --overwrite."""
    if save is None:
        return
    if os.path.exists(save) and not os.path.isdir(save):
        raise UsageError(
            f'--save {save} is a file; a checkpoint is a folder: choose a '
            f'new or empty folder (the file was not changed)')
    check_writable_folder(save, '--save')
    try:
        others = other_files(save)
    except CheckpointError as err:  # a newer format version
        raise UsageError(f'--save {save}: {err}') from None
    if others:
        shown = ', '.join(others[:5]) + (', ...' if len(others) > 5 else '')
        raise UsageError(
            f'--save {save} holds files that are not a d2l_ncf checkpoint '
            f'({shown}); a checkpoint is written only into a new or empty '
            f'folder or over an earlier checkpoint, even with --overwrite: '
            f'choose another folder')
    if not overwrite and is_checkpoint(save) and (
            resume is None
            or os.path.abspath(save) != os.path.abspath(resume)):
        raise OutputExistsError(
            f'{save} already holds a checkpoint; resume from it '
            f'(--resume {save}), choose another folder or pass --overwrite')


def versions():
    """Library versions that can move the numbers."""
    import d2l
    import pandas
    return {'python': platform.python_version(), 'mxnet': mx.__version__,
            'd2l': d2l.__version__, 'numpy': numpy.__version__,
            'pandas': pandas.__version__, 'platform': platform.platform()}


def run_record(config, devices, data, kvstore, result, checkpoint=None):
    """What metrics.json holds for a run of `config` on `data`."""
    record = {
        'config': dict(config_dict(config),
                       resolved_devices=[str(d) for d in devices],
                       resolved_data_dir=data.titles_dir and
                       os.path.abspath(data.titles_dir),
                       num_users=data.num_users, num_items=data.num_items,
                       num_train=len(data.users_train),
                       kvstore=str(kvstore),
                       workers=getattr(kvstore, 'num_workers', 1),
                       command=sys.argv),
        'data': data.summary,
        'versions': versions(),
        'numerics': numerics.record(),
        'history': result['history'],
        'final': {k: v for k, v in result.items() if k != 'history'},
    }
    if checkpoint is not None:
        record['resumed_from'] = {
            'checkpoint': os.path.abspath(checkpoint['folder']),
            'epoch': checkpoint['state']['epoch']}
    return record


def write_outputs(record, out):
    """metrics.json and curves.png into folder `out`. A failed write
    (a disk that filled during the run) is an `OutputWriteError` naming
    the file, after the final metrics are printed to stdout: the
    measured numbers are not lost."""
    path = os.path.join(out, 'metrics.json')
    tmp = f'{path}.tmp-{os.getpid()}'  # another writer's is not ours
    try:
        os.makedirs(out, exist_ok=True)
        with open(tmp, 'w') as f:
            json.dump(record, f, indent=2)
            f.write('\n')
        os.replace(tmp, path)
        path = os.path.join(out, 'curves.png')
        config = record['config']
        save_curves(record['history'], path,
                    title=f"NeuMF, {config['protocol']} protocol, on "
                          f"{', '.join(config['resolved_devices'])}, "
                          f"seed {config['seed']}")
    except OSError as err:
        if os.path.lexists(tmp):
            os.remove(tmp)
        print('final ' + json.dumps(record['final']))
        raise OutputWriteError(
            f'--out {out}: writing {path} failed ({err.strerror or err}); '
            f'the final metrics are printed above') from None
    finally:
        release_out(out)


def release_out(out):
    """The run is done with folder `out`: another may write it."""
    if out is not None:
        release_folder(out)
