"""Scoring a network on (user, item) pairs, in bounded batches.

Every scorer cuts its stream of pairs into batches at the same offsets,
however the caller chunks it, so scores never depend on memory settings;
and none lets a score that is not finite through: NaN would rank the
held-out item first.
"""
import collections

import numpy
from ..runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from mxnet import gluon

from .chunking import IN_FLIGHT, SCORE_BATCH

from ..runtime.stopping import check as check_stop


class NonFiniteModelError(FloatingPointError, ValueError):
    """A network whose parameters or scores are NaN or infinite.

    Such a network is never evaluated, saved or recommended from: a NaN
    score compares false with everything, so a ranking of NaNs would put
    the held-out item first and report a perfect model.
    """


def non_finite_parameters(net):
    """Names of `net`'s parameters holding a NaN or infinite value (on
    any of its contexts); empty for a finite network."""
    return [name for name, p in net.collect_params().items()
            if p._data is not None and not all(
                numpy.isfinite(d.asnumpy()).all() for d in p.list_data())]


def check_finite(net, what='the network'):
    """Raise `NonFiniteModelError` unless every parameter is finite."""
    bad = non_finite_parameters(net)
    if bad:
        raise NonFiniteModelError(
            f'{what} holds parameters that are not finite (NaN or inf): '
            f'{", ".join(bad[:4])}{" ..." if len(bad) > 4 else ""}; '
            f'its scores would be meaningless, so it is not scored')


def split_rows(array, devices):
    """`array`'s rows over `devices`, leaving none empty: with fewer rows
    than devices, only the first few devices get one each."""
    devices = devices[:max(1, min(len(devices), len(array)))]
    return gluon.utils.split_and_load(array, devices, even_split=False)




def score_batches(net, batches, devices):
    """Scores of each ``(users, items)`` batch of the iterable `batches`,
    in order, as float32 vectors.

    Batch j runs whole on ``devices[j % len(devices)]``, and up to
    `IN_FLIGHT` batches per device are queued at once, so every device
    works and none waits for the next batch to be made. A batch's scores
    are those one device computes for it, whatever the number of devices
    (their kernels do not depend on the context of the same kind).
    """
    pending = collections.deque()
    for j, (users, items) in enumerate(batches):
        device = [devices[j % len(devices)]]
        users, items = as_indices(users), as_indices(items)
        pending.append(net(gluon.utils.split_and_load(users, device)[0],
                           gluon.utils.split_and_load(items, device)[0]))
        if len(pending) >= IN_FLIGHT * len(devices):
            yield pending.popleft().asnumpy().reshape(-1)
    while pending:
        yield pending.popleft().asnumpy().reshape(-1)


def as_indices(ids):
    """Integer ids as int32 where they fit (half the bytes to copy; a
    lookup by either gives the same rows)."""
    ids = numpy.asarray(ids)
    if (ids.dtype.kind in 'iu' and ids.dtype.itemsize > 4 and ids.size
            and 0 <= ids.min() and ids.max() < 2 ** 31):
        return ids.astype(numpy.int32)
    return ids


def score_pairs(net, users, items, devices, batch_size=SCORE_BATCH):
    """Scores of ``net(users[j], items[j])`` as a float32 NumPy vector.

    Refuses (`NonFiniteModelError`) a network whose parameters or scores
    are not finite: NaN scores would rank the held-out item first.
    """
    check_finite(net)
    out = list(score_batches(net, ((users[start:start + batch_size],
                                    items[start:start + batch_size])
                                   for start in range(0, len(users),
                                                      batch_size)),
                             devices))
    scores = numpy.concatenate(out) if out else numpy.zeros(0, 'float32')
    check_finite_scores(scores)
    return scores


def check_finite_scores(scores):
    """Raise `NonFiniteModelError` if any score is NaN or infinite."""
    bad = numpy.count_nonzero(~numpy.isfinite(scores))
    if bad:
        raise NonFiniteModelError(
            f'{bad} of {len(scores)} scores are not finite (NaN or inf): '
            f'the network overflows, and a ranking of such scores is '
            f'meaningless, so it is not evaluated')


def score_rows(net, pairs, num_rows, width, devices, chunk_rows,
               batch_size=SCORE_BATCH):
    """Scores of a (num_rows, width) grid of pairs, `chunk_rows` rows at a
    time: yields ``(r0, r1, scores)`` with scores of shape (r1 - r0,
    width).

    ``pairs(start, stop)`` gives the users and items of the grid's pairs
    start..stop-1 in row-major order. They are scored in batches of
    `batch_size` at the offsets one call over the whole grid would use,
    so every chunk size gives the same scores, bit for bit; memory holds
    one chunk and one batch. Refuses a network (or a chunk's scores) that
    is not finite, as `score_pairs` does.
    """
    check_finite(net)
    total = num_rows * width
    scored = score_batches(net, (pairs(start, min(start + batch_size, total))
                                 for start in range(0, total, batch_size)),
                           devices)
    done, carry = 0, numpy.zeros(0, 'float32')  # scored, not yet yielded
    for r0 in range(0, num_rows, chunk_rows):
        check_stop()  # SIGINT/SIGTERM: a safe point between chunks
        r1 = min(num_rows, r0 + chunk_rows)
        end = r1 * width
        parts = [carry]
        while done < end:
            parts.append(next(scored))
            done += len(parts[-1])
        scores = numpy.concatenate(parts)
        take = (r1 - r0) * width
        chunk, carry = scores[:take], scores[take:]
        check_finite_scores(chunk)
        yield r0, r1, chunk.reshape(r1 - r0, width)


def grid_pairs(user_ids, num_items):
    """`score_rows`' pairs for every item of each of `user_ids`."""
    user_ids = numpy.asarray(user_ids, dtype=numpy.int64)

    def pairs(start, stop):
        flat = numpy.arange(start, stop, dtype=numpy.int64)
        return user_ids[flat // num_items], flat % num_items
    return pairs


def listed_pairs(users, items):
    """`score_rows`' pairs from a (rows, width) array of `items`, row r
    paired with `users[r]`."""
    users = numpy.asarray(users, dtype=numpy.int64)
    items = numpy.asarray(items, dtype=numpy.int64)
    width = items.shape[1]
    flat_items = items.reshape(-1)

    def pairs(start, stop):
        flat = numpy.arange(start, stop, dtype=numpy.int64)
        return users[flat // width], flat_items[start:stop]
    return pairs


def score_matrix(net, num_users, num_items, devices, user_ids=None):
    """Scores of every item for each of `user_ids`: (users, num_items)."""
    user_ids = (numpy.arange(num_users) if user_ids is None
                else numpy.asarray(user_ids))
    chunks = [s for _, _, s in score_rows(
        net, grid_pairs(user_ids, num_items), len(user_ids), num_items,
        devices, max(1, len(user_ids)))]
    return (chunks[0] if chunks
            else numpy.zeros((0, num_items), 'float32'))
