"""The chapter's main job: data, NeuMF, training, a record of the run;
checkpoints after every epoch, and a clean stop on a signal."""
import contextlib
import io
import json
import os
import signal
import sys

from .. import book, corrected
from ..callbacks import Callback, ProgressBar, penalty_of
from ..datasets.interactions import summary_line
from ..datasets.movielens import DataNotFoundError
from ..engine.distributed import DEFAULT_KVSTORE, Cluster, connect
from ..engine.scoring import NonFiniteModelError
from ..runtime.locking import SaveLock, deferred_signals
from ..runtime.stopping import RunStopped  # noqa: F401  (train raises it)
from ..runtime.stopping import check as check_stop
from ..corrected import NonFiniteLossError
from .builders import build, load_data, resolve_devices, seed_everything
from .checkpoint import (CheckpointError, check_same_data, data_record,
                         load_checkpoint, restore, save_checkpoint)
from .config import check_fits_data, check_resumable, divergence_settings
from .config import TrainConfig, config_dict
from .records import check_out_dir, check_save_dir, run_record, write_outputs


def train(config=None, out=None, progress=True, overwrite=False, save=None,
          resume=None, kvstore=DEFAULT_KVSTORE):
    """Run the chapter's job with `config`; write `out`/metrics.json.

    With `save`, a checkpoint folder is written after every epoch
    (`checkpoint`); with `resume`, training continues from one (its
    settings must equal `config`'s but for the number of epochs).
    Returns the run's record (what metrics.json holds). `kvstore` is
    gluon.Trainer's; with ``dist_*`` this process is one worker of a
    launched job (`distributed`), and only worker 0 writes files.
    """
    config = (config or TrainConfig()).validate()
    kvstore = connect(kvstore)  # dist_*: a Cluster, once the job is up
    rank, job_save = getattr(kvstore, 'rank', None), save  # None: alone
    if rank:
        out, save, progress = None, None, False
    check_out_dir(out, overwrite)
    check_save_dir(save, resume, overwrite)
    position = Position(save, resume, out, rank=rank, job_save=job_save)
    try:
        with (SaveLock(save) if save is not None
              else contextlib.nullcontext()):
            # again under the lock: a run that just finished may have
            # saved there since the first look
            check_save_dir(save, resume, overwrite)
            record = _train(config, out, progress, save, resume, position,
                            kvstore)
            position.stage = ('after the run finished and wrote --out'
                              if out is not None
                              else 'after the run finished')
            check_stop()  # a signal while the last files were written
            return record
    except KeyboardInterrupt as err:
        signum = getattr(err, 'signum', signal.SIGINT)
        raise RunStopped(position.describe(signum), signum) from None


def _train(config, out, progress, save, resume, position,
           kvstore=DEFAULT_KVSTORE):
    checkpoint = None
    if resume is not None:
        checkpoint = load_checkpoint(resume)
        check_resumable(checkpoint, config)
        position.saved = (resume, checkpoint['state']['epoch'])
    devices = resolve_devices(config)
    try:
        data = load_data(config)
    except DataNotFoundError as err:
        if checkpoint is None:
            raise
        raise DataNotFoundError(
            f'{err}{data_from_checkpoint(config, checkpoint, resume)}'
        ) from None
    check_stop()
    print(summary_line(data.summary), file=sys.stderr)
    seed_everything(config.seed)
    # fit checks the settings against the data before any work
    net, result = fit(config, data, devices, progress, save=save,
                      checkpoint=checkpoint, position=position,
                      kvstore=kvstore)
    record = run_record(config, devices, data, kvstore, result, checkpoint)
    if out is not None:
        position.stage = 'writing --out'
        with deferred_signals():
            write_outputs(record, out)
            position.out = None  # written: nothing to say about it
    return record


def data_from_checkpoint(config, checkpoint, resume):
    """Where a resumed run's data path came from, and how to point at
    the data instead ('' if it was typed)."""
    saved = checkpoint['config']
    for field, flag in (('data', '--data'), ('data_dir', '--data-dir')):
        path = getattr(config, field)
        if path is None or path != saved.get(field):
            continue
        relative = ('' if os.path.isabs(path) else
                    f', a relative path, relative to where the model was '
                    f'trained, that does not resolve from here '
                    f'({os.getcwd()})')
        return (f"; {flag} {path!r} came from the checkpoint's config "
                f"({resume}){relative}: pass {flag} again with the path "
                f"from here (--resume {resume} {flag} PATH)")
    return ''


class Position(Callback):
    """Where a run is (epoch, batch) and which checkpoint holds its last
    finished epoch: what a stopped run reports. A training-loop callback
    keeps it up to date."""

    def __init__(self, save=None, resume=None, out=None, rank=None,
                 job_save=None):
        self.save, self.epoch, self.batch, self.batches = save, 0, 0, 0
        self.stage, self.saved, self.out = 'before training', None, out
        # in a distributed job, worker `rank`; worker 0 saves `job_save`
        self.rank, self.job_save = rank, job_save

    def describe(self, signum):
        name = signal.Signals(signum).name
        if self.stage == 'training':
            where = (f'in epoch {self.epoch}, after batch {self.batch} '
                     f'of {self.batches}')
        elif self.stage == 'evaluating':
            where = f'in epoch {self.epoch}, after its batches'
        else:
            where = self.stage
        if self.rank is not None:  # workers stop a batch apart
            where = (f'{where} (worker {self.rank}: '
                     f'{self.finished()} finished)')
        if self.rank and self.job_save is not None:
            kept = (f'worker 0 saves the checkpoint: its line says which '
                    f'epoch {self.job_save} holds; continue with --resume '
                    f'{self.job_save}')
        elif self.saved is not None:
            folder, epoch = self.saved
            kept = (f'checkpoint {folder} holds epoch {epoch}; continue '
                    f'with --resume {folder}')
        elif self.save is not None:
            kept = f'no epoch finished, so {self.save} holds no checkpoint'
        else:
            kept = 'no checkpoint holds the finished epochs (no --save)'
        if self.out is not None:  # --out is written at the end only
            kept += f'; nothing was written to --out {self.out}'
        return f'stopped by {name} {where}; {kept}'

    def finished(self):
        """The epochs this process finished, in words."""
        done = self.epoch - (self.stage in ('training', 'evaluating'))
        return f'epoch {done}' if done > 0 else 'no epoch'

    def on_train_begin(self, net, trainer, batches_per_epoch,
                       total_batches):
        self.batches = batches_per_epoch

    def on_batch_end(self, epoch, batch):
        self.epoch, self.batch = epoch, batch
        self.stage = 'evaluating' if batch == self.batches else 'training'

    def on_epoch_end(self, epoch, history):
        self.stage = f'after epoch {epoch}'  # a Saver after us says more


class Saver(Callback):
    """A checkpoint into folder `save` after every epoch; `position`
    learns which epoch it holds."""

    def __init__(self, save, setup, config, data, position=None):
        self.save, self.setup, self.position = save, setup, position
        self.config, self.data = config_dict(config), data_record(data)
        self.source = data.summary['source']

    def on_epoch_end(self, epoch, history):
        try:
            self._save(epoch, history)
        except CheckpointError as err:  # e.g. the disk filled: keep the
            print('history ' + json.dumps(history))  # measured numbers
            raise CheckpointError(f'{err}; the history of the finished '
                                  f'epochs is printed above') from None

    def _save(self, epoch, history):
        with deferred_signals():  # the position says what is saved
            s = self.setup
            save_checkpoint(self.save, s.net, s.trainer, self.config,
                            self.data, {
                                'epoch': epoch, 'history': history,
                                'source': self.source,
                                'sampler': (s.train_iter.get_state() if
                                            hasattr(s.train_iter,
                                                    'get_state') else None)},
                            average=(s.averager.state() if s.averager
                                     else None))
            if self.position is not None:
                self.position.saved = (self.save, epoch)
                self.position.stage = f'after epoch {epoch}'


def fit(config, data, devices, progress=False, save=None, checkpoint=None,
        position=None, kvstore=DEFAULT_KVSTORE, callbacks=()):
    """Build NeuMF, its loss and trainer from `config`; train on `data`.

    Returns ``(net, result)`` with `result` as `train_ranking` returns it.
    Seed the generators first (`seed_everything`) for a repeatable run.
    `checkpoint` (as `load_checkpoint` returns it) continues a run; `save`
    names the folder for a checkpoint after every epoch; `position` (a
    `Position`) is kept up to date with the epoch, batch and checkpoint.
    `kvstore`: a gluon kvstore name or a `distributed.Cluster` (this
    worker's part). `callbacks` are added to the loop's (`callbacks`).
    """
    if checkpoint is not None:  # other data first: the checks below
        check_same_data(checkpoint, data)  # would blame a setting
    check_fits_data(config, data)
    cluster = kvstore if isinstance(kvstore, Cluster) else None
    setup = build(config, data, devices, kvstore, progress)
    if cluster is not None:
        setup.train_iter = cluster.join(setup.train_iter, config_dict(config),
                                        data, devices, checkpoint)
    history = []
    if checkpoint is not None:
        restore(checkpoint, setup.net, devices, setup.trainer)
        if setup.averager is not None:
            setup.averager.load(checkpoint['average'])
        state = checkpoint['state']
        history = state['history']
        if state.get('sampler') and hasattr(setup.train_iter, 'set_state'):
            setup.train_iter.set_state(state['sampler'])
        else:
            print("note: the chapter's DataLoader (--reference) keeps its "
                  "random state inside; the resumed run's negatives differ "
                  "from an uninterrupted run's", file=sys.stderr)
    callbacks = setup.callbacks + [ProgressBar(progress), position] + [
        Saver(save, setup, config, data, position) if save else None
    ] + list(callbacks)
    callbacks = [c for c in callbacks
                 if c is not None and not hasattr(c, 'penalty')]
    args = (setup.net, setup.train_iter, data.test_iter, setup.loss,
            setup.trainer, None, data.num_users, data.num_items,
            config.num_epochs, devices, setup.evaluator, data.candidates,
            config.eval_step)
    try:
        if setup.protocol.name == 'book':  # the chapter's own loop
            result = book.train_ranking(
                *args, callbacks=callbacks, history=history,
                cluster=cluster, stop=check_stop, draw=False)
        else:
            result = corrected.train_ranking(
                *args, callbacks=callbacks, history=history,
                cluster=cluster, stop=check_stop,
                penalty=penalty_of(setup.callbacks))
    except (NonFiniteLossError, NonFiniteModelError) as err:
        raise type(err)(f'{err}. Settings that can make a run diverge: '
                        f'{divergence_settings(config)}') from None
    if cluster is not None:
        cluster.finish()
    return setup.net, result


def quietly(fn, *args, **kwargs):
    """Call `fn` with its printing captured; returns ``(its value, the
    lines it printed)`` (for a training: the result lines)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        value = fn(*args, **kwargs)
    return value, printed.getvalue().splitlines()


def run_quietly(config=None, **options):
    """`train` with `config` and no progress bar, its result lines
    captured (the data summary still goes to stderr); returns ``(record,
    printed lines)``. `options` as `train` takes."""
    return quietly(train, config, progress=False, **options)
