"""Top-k recommendations from a checkpoint, in the data's own ids."""
import dataclasses
import os
import re
import sys

import numpy

from ..datasets.movielens import DATASETS
from ..engine.averaging import WeightAverage
from ..engine.scoring import score_pairs
from ..runtime.devices import parse_devices
from .builders import build_net
from .checkpoint import CheckpointError, load_checkpoint, restore
from .config import config_from_dict


class UnknownUserError(KeyError):
    """A user id the checkpoint's data does not hold."""

    def __str__(self):
        return self.args[0]


def recommend(checkpoint, user, k=10, devices='cpu', data_dir=None):
    """The `k` items `user` has not interacted with that NeuMF ranks first.

    `checkpoint` is a folder written by ``train(..., save=...)`` (or
    ``d2l-ncf train --save``); `user` is an original user id of the data
    (an int, or a string of the digits 0-9); `k` an int >= 1. Returns a
    list of dicts: ``rank``, ``item`` (original id), ``score`` and, for
    MovieLens, ``title`` (from ``u.item`` or ``movies.dat`` in
    `data_dir`, which must hold the data the checkpoint was trained on,
    else in the folder the checkpoint was trained from).
    """
    k = _check_k(k)
    user = _check_user(user)
    # a save into the same folder may replace the files while they are
    # read: load_checkpoint then reads the newer checkpoint
    return load_checkpoint(checkpoint, use=lambda ckpt: _recommend(
        ckpt, checkpoint, user, k, devices, data_dir))


def _recommend(ckpt, checkpoint, user, k, devices, data_dir):
    """`recommend` on the loaded checkpoint `ckpt` (of folder
    `checkpoint`)."""
    config = config_from_dict(ckpt['config'])
    mapping = ckpt['mapping']
    user_ids, item_ids = mapping['user_ids'], mapping['item_ids']
    u = _index_of(user_ids, user)
    if u is None:
        raise UnknownUserError(
            f'user {user} is not in the data {checkpoint} was trained on '
            f'({len(user_ids)} users, ids {user_ids.min()} to '
            f'{user_ids.max()})')
    seen = mapping['seen_indices'][
        mapping['seen_indptr'][u]:mapping['seen_indptr'][u + 1]]
    unseen = numpy.setdiff1d(numpy.arange(len(item_ids)), seen)
    if k > len(unseen):
        raise ListTooLongError(f'k = {k} is more than the {len(unseen)} items '
                         f'user {user} has not interacted with')
    ctx = parse_devices(devices)
    net = build_net(config, len(user_ids), len(item_ids), ctx)
    restore(ckpt, net, ctx)
    # with --ema the averaged weights were evaluated; without, no average
    averager = WeightAverage(net, config.ema)
    averager.load(ckpt['average'])
    with averager.applied():
        scores = score_pairs(net, numpy.full(len(unseen), u), unseen, ctx)
    # highest score first; equal scores keep ascending index
    order = numpy.argsort(-scores, kind='stable')[:k]
    top, top_scores = unseen[order], scores[order]
    _tie_notice(scores, top_scores, user)
    titles = _titles(config, ckpt, data_dir,
                     [int(item_ids[i]) for i in top])
    return [dict({'rank': r + 1, 'item': _plain(item_ids[i]),
                  'score': float(s)},
                 **({'title': titles[int(item_ids[i])]}
                    if titles else {}))
            for r, (i, s) in enumerate(zip(top, top_scores))]


def _tie_notice(scores, top_scores, user):
    """Say so on stderr when items left out of the list score the same as
    its last: which of them made the list was decided by id, not by the
    model (a dead model ties them all)."""
    last = top_scores[-1]
    left_out = int(numpy.count_nonzero(scores == last)
                   - numpy.count_nonzero(top_scores == last))
    if left_out:
        listed = int(numpy.count_nonzero(top_scores == last))
        print(f'notice: a tie decided this list: {listed} listed and '
              f'{left_out} unlisted items for user {user} share the last '
              f'rank\'s score ({float(last):.4g}); equal scores are listed '
              f'in ascending id, so the model did not choose between them'
              + ('; every score ties: the model learned nothing '
                 '(docs/ERRATA.md, item 11)' if numpy.all(scores == last)
                 else ''), file=sys.stderr)


def _check_k(k):
    """`k` as a whole number of items, at least 1; else a named error."""
    if isinstance(k, bool) or not isinstance(k, (int, numpy.integer)):
        raise TypeError(f'k = {k!r}: expected a whole number of items to '
                        f'list (an int, at least 1)')
    if k < 1:
        raise ValueError(f'k = {k}: expected a whole number of items to '
                         f'list, at least 1')
    return int(k)


def _check_user(user):
    """`user` as the data file writes ids: a whole number, or a string of
    the digits 0-9 alone (as the data reader takes them: no sign, no
    underscore, no other script's digits); else a named error."""
    if isinstance(user, str):
        if not re.fullmatch(r'[0-9]+', user):
            raise UnknownUserError(
                f'user {user!r} is not a user id: expected the digits 0-9 '
                f'alone, as the data file writes its ids')
        return int(user)
    if isinstance(user, bool) or not isinstance(user, (int, numpy.integer)):
        raise TypeError(f'user = {user!r}: expected a user id (an int, or '
                        f'a string of digits)')
    return int(user)


def _index_of(ids, value):
    pos = int(numpy.searchsorted(ids, value))
    return pos if pos < len(ids) and ids[pos] == value else None


def _plain(x):
    return int(x) if isinstance(x, numpy.integer) else x


class ListTooLongError(ValueError):
    """A list longer than the items a user has not interacted with."""


class TitlesNotFoundError(CheckpointError):
    """MovieLens titles that cannot be found for a checkpoint's items."""


def _titles(config, ckpt, data_dir, wanted=()):
    """Titles for MovieLens data, {} for other files.

    For MovieLens a missing title file, or one without titles for the
    `wanted` item ids, is an error saying where it looked and how to
    point at the data -- never blank titles.
    """
    if config.data is not None or config.dataset not in DATASETS:
        return {}
    spec = DATASETS[config.dataset]
    folder, origin = _titles_folder(config, ckpt, data_dir, spec)
    path = os.path.join(folder, spec.titles)
    if not os.path.isfile(path):
        raise TitlesNotFoundError(
            f'cannot find the titles: {path} does not exist ({origin}); '
            f'pass --data-dir with the {spec.name} folder holding '
            f'{spec.titles}')
    if data_dir is not None:
        _check_same_data(config, ckpt, data_dir, spec)
    try:
        titles = spec.read_titles(folder)
    except OSError as err:
        raise TitlesNotFoundError(
            f'cannot read titles in {folder}: {err}') from None
    lacking = [i for i in wanted if i not in titles]
    if lacking:
        raise TitlesNotFoundError(
            f'{path} has no title for item{"s" if len(lacking) > 1 else ""} '
            f'{", ".join(map(str, lacking[:5]))}'
            f'{" ..." if len(lacking) > 5 else ""} ({origin}): is it the '
            f'{spec.name} folder this checkpoint was trained on? Pass '
            f'--data-dir with that folder')
    return titles


def _check_same_data(config, ckpt, data_dir, spec):
    """`data_dir` must hold the data the checkpoint was trained on (its
    fingerprint: ids and split), or its titles name other items."""
    from ..datasets.formats import DataFormatError
    from ..datasets.interactions import fingerprint
    from ..datasets.movielens import DataNotFoundError
    from .builders import load_data
    folder, state = ckpt['folder'], ckpt['state']
    try:
        data = load_data(dataclasses.replace(config, data_dir=data_dir))
    except (DataNotFoundError, DataFormatError, OSError) as err:
        raise TitlesNotFoundError(
            f'--data-dir {data_dir}: cannot check that it holds the data '
            f'{folder} was trained on ({err}); pass --data-dir with the '
            f'{spec.name} folder it was trained on') from None
    theirs, mine = state.get('fingerprint'), fingerprint(data)
    if theirs != mine:
        mapping = ckpt['mapping']
        raise TitlesNotFoundError(
            f'--data-dir {data_dir} holds other data than {folder} was '
            f'trained on: the checkpoint\'s data has '
            f'{len(mapping["user_ids"])} users and '
            f'{len(mapping["item_ids"])} items, from '
            f'{state.get("source", "an unrecorded file")}, fingerprint '
            f'{str(theirs)[:12]}; {data_dir} has {data.num_users} users '
            f'and {data.num_items} items, fingerprint {mine[:12]}, so its '
            f'titles would name other items. Pass --data-dir with the '
            f'{spec.name} folder it was trained on')


def _titles_folder(config, ckpt, data_dir, spec):
    """(folder, where the folder came from) for the title file."""
    if data_dir is not None:
        if not os.path.isdir(data_dir):
            raise TitlesNotFoundError(
                f'--data-dir {data_dir}: no such folder; expected the '
                f'{spec.name} folder holding {spec.titles}')
        return data_dir, f'--data-dir {data_dir}'
    source = ckpt['state'].get('source')
    if source:
        folder = os.path.dirname(source)
        if os.path.isdir(folder):
            return folder, ('the folder the checkpoint was trained from, '
                            'as recorded in it')
    saved = config.data_dir
    if saved:
        if os.path.isdir(saved):
            return saved, f"data_dir {saved!r} from the checkpoint's config"
        relative = ('' if os.path.isabs(saved) else
                    f', a relative path that does not resolve from here '
                    f'({os.getcwd()}); it is relative to where the model '
                    f'was trained')
        raise TitlesNotFoundError(
            f"cannot find the titles: the checkpoint's config names the "
            f'data folder {saved!r}{relative}'
            + (f' (trained from {os.path.dirname(source)}, which is gone)'
               if source else '')
            + f'. Pass --data-dir with the {spec.name} folder holding '
              f'{spec.titles}')
    where = os.path.dirname(source) if source else 'an unrecorded folder'
    raise TitlesNotFoundError(
        f'cannot find the titles: the checkpoint was trained from {where}, '
        f'which is gone (moved or deleted). Pass --data-dir with the '
        f'{spec.name} folder holding {spec.titles}')


def format_recommendations(rows, user):
    """A table for the terminal."""
    lines = [f'top {len(rows)} for user {user}:',
             f"{'rank':>4}  {'item':>8}  {'score':>9}  title"]
    for row in rows:
        lines.append(f"{row['rank']:>4}  {row['item']:>8}  "
                     f"{row['score']:>9.4f}  {row.get('title', '')}")
    return '\n'.join(lines)
