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
from .checkpoint import CheckpointError, is_checkpoint, other_files
from .checks import UsageError
from .config import config_dict
from .plotting import save_curves

OUTPUT_FILES = ('metrics.json', 'curves.png')


class OutputExistsError(FileExistsError):
    """The output folder already holds a run's files."""


def check_out_dir(out, overwrite=False, files=OUTPUT_FILES,
                  option='--out'):
    """Check that folder `out` can be written, before any work; refuse
    to write over an earlier run's `files` unless told to."""
    if out is None:
        return
    check_writable_folder(out, option)
    if overwrite:
        return
    taken = [f for f in files if os.path.exists(os.path.join(out, f))]
    if taken:
        raise OutputExistsError(
            f'{out} already holds {", ".join(taken)} from an earlier run; '
            f'choose another folder or pass --overwrite')


def check_writable_folder(path, option):
    """`path` is a folder, or can be made one, that we may write in."""
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
    """metrics.json and curves.png into folder `out`."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, 'metrics.json')
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)
    config = record['config']
    save_curves(record['history'], os.path.join(out, 'curves.png'),
                title=f"NeuMF, {config['protocol']} protocol, on "
                      f"{', '.join(config['resolved_devices'])}, "
                      f"seed {config['seed']}")
