"""Checkpoints: a trained NeuMF with everything needed to use or resume it.

A checkpoint is a folder:

- ``model.params``: the network's parameters (``net.save_parameters``);
- ``trainer.states``: the optimizer's state (Adam's moments and step);
- ``config.json``: the resolved `TrainConfig`;
- ``mapping.npz``: original user and item ids of each index, and every
  user's interacted items (training and test) for recommendations;
- ``average.npz``: the moving average of the weights (``--ema``; empty
  without), which evaluation and recommendations use;
- ``state.json``: epochs done, their history, the sampler's random state
  and leftover batch, and a fingerprint of the data;
- ``manifest.json``, written last: each file's size and SHA-256.

It is written into a temporary sibling folder and renamed into place, so
a crash leaves either the old checkpoint or the new one, never a mix; a
checkpoint whose files do not match its manifest is refused.
"""
import glob
import hashlib
import json
import os
import shutil

import numpy

from .data import file_digest

MANIFEST = 'manifest.json'
FILES = ('model.params', 'trainer.states', 'config.json', 'mapping.npz',
         'average.npz', 'state.json')


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged or for other data."""


def is_checkpoint(folder):
    return os.path.isfile(os.path.join(folder, MANIFEST))


def holds_other_files(folder):
    """Does `folder` hold files that are not a checkpoint? A save would
    replace them all, so it refuses."""
    return (os.path.isdir(folder) and bool(os.listdir(folder))
            and not is_checkpoint(folder))


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
    (`WeightAverage.state`) if any.
    """
    folder = os.path.abspath(folder)
    if holds_other_files(folder):
        raise CheckpointError(f'{folder} holds files that are not a '
                              f'checkpoint; refusing to replace them')
    tmp = f'{folder}.tmp-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_files(tmp, net, trainer, config, record, state,
                     average or {})
    except Exception as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(
            f'{folder}: could not write the checkpoint ({type(err).__name__}'
            f': {err}); the previous checkpoint there, if any, is intact'
        ) from err
    old = f'{folder}.old-{os.getpid()}'
    if os.path.exists(folder):
        os.rename(folder, old)  # a crash here leaves `old` intact
    os.rename(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def _write_files(tmp, net, trainer, config, record, state, average):
    os.makedirs(tmp)
    net.save_parameters(os.path.join(tmp, 'model.params'))
    trainer.save_states(os.path.join(tmp, 'trainer.states'))
    _write_json(os.path.join(tmp, 'config.json'), config)
    numpy.savez(os.path.join(tmp, 'mapping.npz'), **record['mapping'])
    numpy.savez(os.path.join(tmp, 'average.npz'), **average)
    _write_json(os.path.join(tmp, 'state.json'),
                dict(state, fingerprint=record['fingerprint']))
    _write_json(os.path.join(tmp, MANIFEST), {
        name: {'bytes': os.path.getsize(os.path.join(tmp, name)),
               'sha256': file_digest(os.path.join(tmp, name), 'sha256')}
        for name in FILES})
    _fsync_dir(tmp)


def load_checkpoint(folder):
    """Check `folder` against its manifest; return its config, state and
    mapping, and the paths of the parameter files."""
    if not os.path.isdir(folder):
        left = sorted(glob.glob(glob.escape(os.path.abspath(folder))
                                + '.old-*'))
        hint = (f'; a save was interrupted while swapping folders: the '
                f'previous checkpoint is {left[-1]}' if left else '')
        raise CheckpointError(f'{folder}: no such checkpoint folder{hint}')
    manifest_path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(manifest_path):
        raise CheckpointError(
            f'{folder} is not a complete checkpoint: {MANIFEST} is missing '
            f'(it is written last, so the save did not finish)')
    manifest = _read_json(manifest_path)
    for name in FILES:
        path = os.path.join(folder, name)
        entry = manifest.get(name) if isinstance(manifest, dict) else None
        if entry is None:
            raise CheckpointError(f'{manifest_path}: lists no {name}')
        if not os.path.isfile(path):
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
    mapping = _read_npz(os.path.join(folder, 'mapping.npz'))
    return {'folder': folder,
            'config': _read_json(os.path.join(folder, 'config.json')),
            'state': _read_json(os.path.join(folder, 'state.json')),
            'mapping': mapping,
            'average': _read_npz(os.path.join(folder, 'average.npz')),
            'params': os.path.join(folder, 'model.params'),
            'trainer': os.path.join(folder, 'trainer.states')}


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


def interactions_by_user(data):
    """Every user's items, training and test, as CSR (indptr, indices)."""
    seen = [sorted(set(data.candidates.get(u, []))
                   | set(data.test_iter.get(u, [])))
            for u in range(data.num_users)]
    indptr = numpy.cumsum([0] + [len(s) for s in seen]).astype(numpy.int64)
    indices = numpy.fromiter((i for s in seen for i in s), numpy.int64,
                             count=int(indptr[-1]))
    return indptr, indices


def fingerprint(data):
    """SHA-256 of the ids and the split: equal data, equal fingerprint."""
    h = hashlib.sha256()
    for array in (data.user_ids, data.item_ids, data.users_train,
                  data.items_train):
        h.update(numpy.ascontiguousarray(array, numpy.int64).tobytes())
    h.update(repr(sorted(data.test_iter.items())).encode())
    return h.hexdigest()


def check_same_data(checkpoint, data):
    """Refuse a checkpoint trained on other data than `data`."""
    state, mapping = checkpoint['state'], checkpoint['mapping']
    sizes = (len(mapping['user_ids']), len(mapping['item_ids']))
    if sizes != (data.num_users, data.num_items) or state.get(
            'fingerprint') != fingerprint(data):
        raise CheckpointError(
            f"{checkpoint['folder']} was trained on other data "
            f"({sizes[0]} users, {sizes[1]} items, from "
            f"{state.get('source', 'unknown')}); this data has "
            f"{data.num_users} users and {data.num_items} items, from "
            f"{(data.summary or {}).get('source', 'unknown')}")


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


def _write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(folder):
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), 'rb') as f:
            os.fsync(f.fileno())
