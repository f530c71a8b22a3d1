"""Checkpoints: a trained NeuMF with everything needed to use or resume it.

A checkpoint is a folder holding ``manifest.json`` and one epoch folder
(``epoch-N``) of files:

- ``model.params``: the network's parameters (``net.save_parameters``);
- ``trainer.states``: the optimizer's state (Adam's moments and step);
- ``config.json``: the resolved `TrainConfig`;
- ``mapping.npz``: original user and item ids of each index, and every
  user's interacted items (training and test) for recommendations;
- ``average.npz``: the moving average of the weights (``--ema``; empty
  without), which evaluation and recommendations use;
- ``state.json``: epochs done, their history, the sampler's random state
  and leftover batch, and a fingerprint of the data.

The manifest names the format (``d2l_ncf-checkpoint``) and its version,
the epoch folder, and each file's size and SHA-256; a folder is this
package's checkpoint only if its manifest says so. A save writes the new
epoch folder under a temporary name, renames it, then replaces the
manifest atomically and deletes only the files the old manifest listed:
a crash leaves the old checkpoint or the new one, never a mix, and any
other file in the folder (notes, a run's --out files, data) is kept.
A lock file (``d2l_ncf.lock``, holding the pid) lets one run at a time
save into a folder.
"""
import contextlib
import os
import shutil
import time

import numpy

from ..datasets.formats import file_digest
from ..datasets.interactions import fingerprint, interactions_by_user
from ..runtime.locking import SaveLock, deferred_signals, held
from .checkpoint_folder import (  # noqa: F401  (its names, offered here)
    CheckpointError, EPOCH_FOLDER, FILES, FORMAT, MANIFEST, VERSION,
    clean_stale, is_checkpoint, other_files, read_manifest, _fsync_dir,
    _ours, _package_entry, _read_json, _read_npz, _remove_files,
    _write_json)
from .config import config_from_dict


def data_record(data):
    """What a checkpoint keeps of `data`: the id mapping, every user's
    items and the fingerprint. The data does not change while training,
    so a run computes this once for all its checkpoints."""
    indptr, indices = interactions_by_user(data)
    return {'mapping': {'user_ids': data.user_ids,
                        'item_ids': data.item_ids, 'seen_indptr': indptr,
                        'seen_indices': indices},
            'fingerprint': fingerprint(data)}


def save_checkpoint(folder, net, trainer, config, record, state,
                    average=None):
    """Write a checkpoint of `net` and `trainer` to `folder`, atomically.

    `config` is a dict, `record` what `data_record` returns, `state` a
    JSON-able dict (see module doc), `average` the averaged weights
    (`WeightAverage.state`) if any. Only files of an earlier checkpoint
    in `folder` are replaced; a folder of other files is refused.
    """
    folder = os.path.abspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CheckpointError(f'{folder} is a file, not a checkpoint folder')
    others = other_files(folder)
    if others:
        raise CheckpointError(
            f'{folder} holds files that are not a checkpoint '
            f'({", ".join(others[:5])}); refusing to write among them')
    held_here = held(folder)
    with contextlib.ExitStack() as stack:
        if not held_here:
            stack.enter_context(SaveLock(folder))
        with deferred_signals():
            clean_stale(folder)
            old = read_manifest(folder)
            name = _free_name(folder, f"epoch-{int(state['epoch'])}")
            files = _write_epoch(folder, name, net, trainer, config, record,
                                 state, average or {})
            _write_json(os.path.join(folder, MANIFEST), {
                'format': FORMAT, 'version': VERSION,
                'epoch': int(state['epoch']), 'folder': name,
                'files': files}, atomic=True)
            if old is not None:  # only our file names, whatever it lists
                _remove_files(os.path.join(folder, old['folder']), FILES)
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(folder, old['folder']))
    return folder


def _free_name(folder, name):
    """`name`, or `name-2`, ... if a folder of that name is there."""
    candidate, n = name, 1
    while os.path.lexists(os.path.join(folder, candidate)):
        n += 1
        candidate = f'{name}-{n}'
    return candidate


def _write_epoch(folder, name, net, trainer, config, record, state,
                 average):
    """The epoch's files in `folder/name`, via a temporary folder;
    returns their sizes and digests."""
    tmp = os.path.join(folder, f'{name}.tmp-{os.getpid()}')
    try:
        os.mkdir(tmp)
        net.save_parameters(os.path.join(tmp, 'model.params'))
        trainer.save_states(os.path.join(tmp, 'trainer.states'))
        _write_json(os.path.join(tmp, 'config.json'), config)
        numpy.savez(os.path.join(tmp, 'mapping.npz'), **record['mapping'])
        numpy.savez(os.path.join(tmp, 'average.npz'), **average)
        _write_json(os.path.join(tmp, 'state.json'),
                    dict(state, fingerprint=record['fingerprint']))
        files = {n: {'bytes': os.path.getsize(os.path.join(tmp, n)),
                     'sha256': file_digest(os.path.join(tmp, n), 'sha256')}
                 for n in FILES}
        _fsync_dir(tmp)
        os.rename(tmp, os.path.join(folder, name))
    except Exception as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(
            f'{folder}: could not write the checkpoint ({type(err).__name__}'
            f': {err}); the previous checkpoint there, if any, is intact'
        ) from err
    return files


# How long a reader waits for a save into the same folder: each save
# replaces the checkpoint it reads, and then it reads the new one.
WAIT_FOR_WRITER = 30  # seconds


def load_checkpoint(folder, use=None, wait=WAIT_FOR_WRITER):
    """Check `folder` against its manifest; return its config, state and
    mapping, and the paths of the parameter files.

    With `use`, return ``use(checkpoint)`` instead: it reads the files
    the paths name while the checkpoint is checked. A run saving into
    `folder` meanwhile replaces and deletes what was being read; the
    manifest then has changed, and the newer checkpoint is read instead,
    for up to `wait` seconds.
    """
    deadline = time.monotonic() + wait
    while True:
        before = _manifest_bytes(folder)
        try:
            checkpoint = _load(folder)
            return checkpoint if use is None else use(checkpoint)
        except (_Moved, CheckpointError, OSError) as err:
            if (_manifest_bytes(folder) == before
                    and not isinstance(err, _Moved)):
                if isinstance(err, CheckpointError):
                    raise
                raise CheckpointError(f'{folder}: cannot read it ({err})'
                                      ) from None
            if time.monotonic() > deadline:
                raise CheckpointError(
                    f'{folder}: a run kept replacing the checkpoint for '
                    f'{wait} s while it was read; try again, or read a '
                    f'copy') from None
            time.sleep(0.05)


def _manifest_bytes(folder):
    """What `folder`'s manifest holds now (None if there is none): a
    save replaces it last."""
    try:
        with open(os.path.join(folder, MANIFEST), 'rb') as f:
            return f.read()
    except OSError:
        return None


class _Moved(Exception):
    pass


WHAT_IT_IS = ('a checkpoint is the folder `train --save DIR` writes '
              '(DIR/manifest.json and DIR/epoch-N/)')


def _load(folder):
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CheckpointError(f'{folder} is a file, not a checkpoint '
                              f'folder; {WHAT_IT_IS}')
    if not os.path.isdir(folder):
        what = (f'a symbolic link to {os.readlink(folder)}, which does '
                f'not exist' if os.path.islink(folder)
                else 'nothing exists at this path')
        raise CheckpointError(f'{folder}: no such checkpoint folder '
                              f'({what})')
    manifest_path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(manifest_path):
        names = sorted(os.listdir(folder))
        if not any(_package_entry(n) or EPOCH_FOLDER.match(n)
                   for n in names):  # nothing a save writes
            held = (f"holds {', '.join(names[:5])}"
                    f"{', ...' if len(names) > 5 else ''}"
                    if names else 'is empty')
            raise CheckpointError(
                f'{folder} is not a checkpoint: it {held}, and no '
                f'{MANIFEST}; {WHAT_IT_IS}')
        raise CheckpointError(
            f'{folder} is not a complete checkpoint: {MANIFEST} is missing '
            f'(it is written last, so the save did not finish)')
    raw = _read_json(manifest_path)
    manifest = _ours(raw, manifest_path)
    if manifest is None:
        raise CheckpointError(
            f'{manifest_path} is not a d2l_ncf checkpoint manifest (it '
            f'names no format {FORMAT!r}): {folder} is not a checkpoint')
    base = os.path.join(folder, manifest['folder'])
    for name in FILES:
        path = os.path.join(base, name)
        entry = manifest['files'].get(name)
        if not isinstance(entry, dict):
            raise CheckpointError(f'{manifest_path}: lists no {name}')
        if not os.path.isfile(path):
            if _read_json(manifest_path) != raw:
                raise _Moved()
            raise CheckpointError(f'{path} is missing')
        size = os.path.getsize(path)
        if size != entry.get('bytes'):
            raise CheckpointError(
                f'{path} has {size} bytes, expected {entry.get("bytes")}: '
                f'the file is truncated or was changed')
        if file_digest(path, 'sha256') != entry.get('sha256'):
            raise CheckpointError(
                f'{path} does not match its SHA-256 in {MANIFEST}: the file '
                f'is damaged or was changed')
    mapping = _read_npz(os.path.join(base, 'mapping.npz'))
    config_path = os.path.join(base, 'config.json')
    config = _read_json(config_path)
    try:  # a hand-edited value, named now: the checks of a typed config
        config_from_dict(config, where=f'checkpoint {config_path}'
                         ).validate()
    except (ValueError, TypeError) as err:
        text = str(err)
        raise CheckpointError(text if config_path in text else
                              f'checkpoint {config_path}: {text} (was the '
                              f'file edited?)') from None
    return {'folder': folder, 'version': manifest['version'],
            'config': config,
            'state': _read_json(os.path.join(base, 'state.json')),
            'mapping': mapping,
            'average': _read_npz(os.path.join(base, 'average.npz')),
            'params': os.path.join(base, 'model.params'),
            'trainer': os.path.join(base, 'trainer.states')}


def restore(checkpoint, net, devices, trainer=None):
    """Load the checkpoint's parameters (and optimizer state) in place."""
    try:
        net.load_parameters(checkpoint['params'], ctx=devices)
        if trainer is not None:
            trainer.load_states(checkpoint['trainer'])
    except Exception as err:  # MXNet raises AssertionError, MXNetError...
        first = str(err).strip().splitlines()[0] if str(err) else ''
        raise CheckpointError(
            f"{checkpoint['folder']}: its parameters do not fit this "
            f"network ({type(err).__name__}: {first[:200]})") from None
    bad = [name for name, param in net.collect_params().items()
           if not numpy.isfinite(param.list_data()[0].asnumpy()).all()]
    bad += [f'the average of --ema ({name})' for name, value in
            checkpoint.get('average', {}).items()
            if not numpy.isfinite(value).all()]
    if bad:  # a diverged run's weights: nothing to score or resume from
        raise CheckpointError(
            f"{checkpoint['folder']}: the checkpoint holds non-finite "
            f"parameters (NaN or infinity in {', '.join(bad[:3])}"
            f"{', ...' if len(bad) > 3 else ''}): the run that saved it had "
            f"diverged, so it can be neither resumed nor used; train again, "
            f"or use a checkpoint saved before the divergence")


def check_same_data(checkpoint, data):
    """Refuse a checkpoint trained on other data than `data`."""
    state, mapping = checkpoint['state'], checkpoint['mapping']
    sizes = (len(mapping['user_ids']), len(mapping['item_ids']))
    mine = fingerprint(data)
    if sizes != (data.num_users, data.num_items) or state.get(
            'fingerprint') != mine:
        theirs = str(state.get('fingerprint', 'unknown'))[:12]
        raise CheckpointError(
            f"{checkpoint['folder']} was trained on other data "
            f"({sizes[0]} users, {sizes[1]} items, from "
            f"{state.get('source', 'unknown')}, fingerprint {theirs}); "
            f"this data has {data.num_users} users and {data.num_items} "
            f"items, from {(data.summary or {}).get('source', 'unknown')}, "
            f"fingerprint {mine[:12]}: resume on the data it was trained "
            f"on")
