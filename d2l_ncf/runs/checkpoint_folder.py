"""A checkpoint folder on disk: its format's names and version, the
manifest that makes a folder this package's, which files in it are ours
(and may be replaced) and which are not (and are kept), the clean-up
after a killed save, and the small JSON and NumPy file helpers the saves
and loads share (`checkpoint` saves and loads the model itself).
"""
import contextlib
import json
import os
import re

import numpy

from ..runtime.locking import LOCK, pid_alive

MANIFEST = 'manifest.json'
FORMAT = 'd2l_ncf-checkpoint'
VERSION = 2  # the one version this code writes and reads
FILES = ('model.params', 'trainer.states', 'config.json', 'mapping.npz',
         'average.npz', 'state.json')
EPOCH_FOLDER = re.compile(r'epoch-\d+(-\d+)?\Z')
# temporaries a save leaves if killed: epoch-N.tmp-PID, manifest.json.tmp-PID
TEMPORARY = re.compile(r'(epoch-\d+(-\d+)?|manifest\.json)\.tmp-(\d+)\Z')


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged or for other data."""


def read_manifest(folder):
    """The manifest of `folder` if this package wrote it, else None.

    Raises `CheckpointError` for a checkpoint of a newer format version.
    """
    try:
        with open(os.path.join(folder, MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    return _ours(manifest, os.path.join(folder, MANIFEST))


def _ours(manifest, path):
    if not isinstance(manifest, dict):
        return None
    if manifest.get('format') == FORMAT:
        if manifest.get('version') != VERSION:
            raise CheckpointError(
                f'{path}: checkpoint format version '
                f'{manifest.get("version")!r}, written by another version '
                f'of d2l_ncf; this one reads version {VERSION}')
        if (not isinstance(manifest.get('files'), dict)
                or not EPOCH_FOLDER.match(str(manifest.get('folder')))):
            raise CheckpointError(f'{path}: a {FORMAT} manifest without '
                                  f'a valid folder and file list')
        return manifest
    return None


def is_checkpoint(folder):
    return read_manifest(folder) is not None


def _package_entry(name):
    return (name == LOCK or TEMPORARY.match(name) is not None
            or name.startswith('.d2l_ncf-probe-'))  # records.probe_write


def other_files(folder):
    """The entries of `folder` a save must not replace: all of them
    unless it is a checkpoint (its lock and temporaries aside)."""
    if not os.path.isdir(folder) or is_checkpoint(folder):
        return []
    return sorted(n for n in os.listdir(folder) if not _package_entry(n))


def holds_other_files(folder):
    """Does `folder` hold files that are not a checkpoint? A save refuses
    to write among them."""
    return bool(other_files(folder))


def clean_stale(folder):
    """Delete the temporaries a killed save left: ``epoch-N.tmp-PID``
    and ``manifest.json.tmp-PID`` in `folder`, when process PID is gone;
    only our files."""
    folder = os.path.abspath(folder)
    found = [(os.path.join(folder, n), TEMPORARY.match(n).group(3))
             for n in (os.listdir(folder) if os.path.isdir(folder) else ())
             if TEMPORARY.match(n)]
    for path, pid in found:
        if pid_alive(int(pid)):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            _remove_files(path, FILES)
            with contextlib.suppress(OSError):
                os.rmdir(path)
        elif os.path.isfile(path):
            os.remove(path)


def _remove_files(folder, names):
    """Remove the files `names` from `folder` (not links, not folders)."""
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not os.path.islink(path):
            os.remove(path)


def _read_npz(path):
    try:
        with numpy.load(path) as npz:
            return {k: npz[k] for k in npz.files}
    except Exception as err:
        raise CheckpointError(f'{path} cannot be read: {err}') from None


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise CheckpointError(f'{path}, line {err.lineno}: not valid JSON '
                              f'({err.msg})') from None
    except OSError as err:
        raise CheckpointError(f'{path}: cannot read it ({err})') from None


def _write_json(path, obj, atomic=False):
    """`obj` as JSON to `path`, synced; with `atomic`, through a
    temporary file renamed over `path`."""
    target, path = path, (f'{path}.tmp-{os.getpid()}' if atomic else path)
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')
        f.flush()
        os.fsync(f.fileno())
    if atomic:
        os.replace(path, target)


def _fsync_dir(folder):
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), 'rb') as f:
            os.fsync(f.fileno())
