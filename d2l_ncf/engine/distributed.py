"""Data-parallel training on MXNet's own parameter server (ps-lite).

A job has one scheduler, S servers and W workers, each a process that
finds the others through the ``DMLC_*`` environment (`launcher` sets it).
Every worker draws the same seeded global batches and trains on its part:
worker ``r`` of ``W`` takes rows ``[r B / W, (r + 1) B / W)`` of each batch
of ``B`` and splits them over its own ``D`` devices as ``split_and_load``
does. With ``dist_sync`` the servers add the W workers' gradients, so W
workers with D devices each take the same steps as one process with
W x D devices. With ``dist_async`` each worker's push is applied on the
servers as it arrives (the optimizer runs there). Only worker 0
evaluates, prints the result lines and writes files.
"""
import ctypes
import hashlib
import json
import os
import signal

import numpy

from ..datasets.interactions import fingerprint

KVSTORES = ('local', 'device', 'dist_sync', 'dist_async')
DEFAULT_KVSTORE = 'device'  # gluon.Trainer's default: the chapter's
# The rank the launcher gives a worker (ps-lite numbers its nodes in its
# own order; ours fixes which part of each batch a worker takes).
RANK_ENV = 'D2L_NCF_WORKER_RANK'
# kvstore keys of our own, far above the Trainer's (0 .. parameters - 1)
SETTINGS_KEY, LOSS_KEY = 900001, 900100
# Settings that may differ between workers: where each finds the data,
# its DataLoader processes, how it names its devices (their number counts)
LOCAL_SETTINGS = ('data_dir', 'data', 'num_workers', 'devices')
PR_SET_PDEATHSIG = 1  # Linux's prctl option


class ClusterError(ValueError):
    """The workers of a job cannot train together."""


def check_launched(kvstore, environ=os.environ):
    """A dist kvstore outside a launched job: say how to launch it."""
    if str(kvstore).startswith('dist') and environ.get('DMLC_ROLE') != (
            'worker'):
        raise ClusterError(
            f'--kvstore {kvstore} trains on a parameter-server job, and '
            f'this process is not one of its workers (DMLC_ROLE is '
            f"{environ.get('DMLC_ROLE')!r}); start it with the launcher, "
            f"e.g. 'd2l-ncf launch --workers 2 --servers 1 -- train "
            f"--kvstore {kvstore} ...', or set DMLC_ROLE, DMLC_PS_ROOT_URI, "
            f'DMLC_PS_ROOT_PORT, DMLC_NUM_SERVER and DMLC_NUM_WORKER for '
            f'every process as docs/ARCHITECTURE.md shows')


def linux_prctl():
    """Linux's prctl, or None where there is none."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def connect(kvstore, environ=os.environ):
    """A `Cluster` for a dist kvstore (blocks until every node is up);
    the kvstore name itself for the one-process kinds."""
    if not str(kvstore).startswith('dist'):
        return kvstore
    check_launched(kvstore, environ)
    prctl = linux_prctl()
    if prctl is not None:  # die with the launcher (or ssh's shell), even
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # if it is SIGKILLed
    from ..runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy)
    import mxnet
    kv = mxnet.kv.create(kvstore)
    cluster = Cluster(kv, int(environ.get(RANK_ENV, kv.rank)),
                      kv.num_workers)
    # Until `finish`, a failing worker exits at once: the kvstore's
    # closing barrier would wait for workers that go on training.
    cluster.set_exit_barrier(False)
    if not 0 <= cluster.rank < kv.num_workers:
        raise ClusterError(f'{RANK_ENV}={cluster.rank} is not a worker '
                           f'rank of a job of {kv.num_workers} workers')
    return cluster


def trainer_options(kvstore):
    """gluon.Trainer's kvstore arguments for a name or a `Cluster`. Sync:
    the servers only add gradients and every worker runs the same
    optimizer step (so its state can be saved and resumed); async: the
    servers update."""
    if isinstance(kvstore, Cluster):
        return {'kvstore': kvstore.kv, 'update_on_kvstore': not kvstore.sync}
    return {'kvstore': kvstore}


class Cluster:
    """This worker's place in the job, and the sums it shares."""

    def __init__(self, kv, rank, num_workers):
        self.kv, self.rank, self.num_workers = kv, rank, num_workers
        self.sync = 'async' not in kv.type
        self.is_reporter = rank == 0  # worker 0 evaluates, prints, writes
        # how many workers' examples one step sums (async: only ours)
        self.scale = num_workers if self.sync else 1
        self._loss_keys = {}

    def __str__(self):
        return self.kv.type

    def set_exit_barrier(self, on):
        """Whether this worker waits for the others when it exits (and
        worker 0 then stops the servers)."""
        from mxnet.base import _LIB, check_call
        check_call(_LIB.MXKVStoreSetBarrierBeforeExit(
            self.kv.handle, ctypes.c_int(int(on))))

    def finish(self):
        """Training is done: exit together, as a job should."""
        self.set_exit_barrier(True)

    def join(self, batches, config, data, devices, checkpoint=None):
        """Check this worker fits the job (settings and data as worker
        0's, the batch split evenly over every device of every worker);
        return its part of `batches`. `config` is a dict."""
        parts = self.num_workers * len(devices)
        if config['batch_size'] % parts:
            raise ClusterError(
                f"batch_size {config['batch_size']} does not split evenly "
                f"over {self.num_workers} workers x {len(devices)} "
                f"devices; use a multiple of {parts}")
        settings = {k: v for k, v in config.items()
                    if k not in LOCAL_SETTINGS}
        settings.update(
            data_fingerprint=fingerprint(data),
            devices_per_worker=len(devices), kvstore=self.kv.type,
            start_epoch=checkpoint['state']['epoch'] if checkpoint else 0)
        self.check_same(settings)
        return ShardedBatches(batches, self.rank, self.num_workers)

    def sum(self, array):
        """`array` (NumPy) added over the workers (sync); ours (async)."""
        if not self.sync:
            return array
        from mxnet import nd
        array = numpy.asarray(array, dtype=numpy.float32)
        key = self._loss_keys.get(array.shape)
        if key is None:  # each shape its own key, made once by all
            key = self._loss_keys[array.shape] = (
                LOSS_KEY + len(self._loss_keys))
            self.kv.init(key, nd.zeros(array.shape))
        out = nd.zeros(array.shape)
        self.kv.push(key, nd.array(array, dtype='float32'))
        self.kv.pull(key, out=out)
        return out.asnumpy()

    def check_same(self, settings):
        """Stop every worker before training if one's `settings` (a dict
        of JSON values) differ from worker 0's; name what differs."""
        from mxnet import nd
        mine = settings_vector(settings)
        self.kv.init(SETTINGS_KEY, nd.array(mine))  # keeps rank 0's
        if self.sync:  # a sync push adds every worker's: W times ours
            self.kv.push(SETTINGS_KEY, nd.array(mine))
        seen = nd.zeros(mine.shape)
        self.kv.pull(SETTINGS_KEY, out=seen)
        differ = [name for name, s, m in zip(sorted(settings),
                                             seen.asnumpy(),
                                             mine * self.scale) if s != m]
        if differ:
            raise ClusterError(
                f'the {self.num_workers} workers were started with other '
                f'settings or data ({", ".join(differ)} '
                f'{"differs" if len(differ) == 1 else "differ"} between '
                f'workers; worker {self.rank} has ' + ', '.join(
                    f'{n}={settings[n]!r}' for n in differ)
                + '): start every worker with the same train options '
                  'and data')


def settings_vector(settings):
    """One float32 per setting (sorted by name), a 16-bit hash of its
    value: sums over up to 256 workers stay exact in float32."""
    return numpy.array(
        [int(hashlib.sha256(json.dumps(settings[k], sort_keys=True)
                            .encode()).hexdigest()[:4], 16)
         for k in sorted(settings)], dtype=numpy.float32)


class ShardedBatches:
    """Worker `rank`'s part of every batch of `batches`: rows ``[rank B /
    W, (rank + 1) B / W)`` of each array (every worker runs the same
    seeded stream, so the negatives drawn agree)."""

    def __init__(self, batches, rank, num_workers):
        self.batches, self.rank, self.num_workers = (
            batches, rank, num_workers)

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        for values in self.batches:
            size = values[0].shape[0] // self.num_workers
            lo = self.rank * size
            yield tuple(v[lo:lo + size] for v in values)

    def __getattr__(self, name):  # get_state, set_state: the stream's
        return getattr(self.batches, name)
