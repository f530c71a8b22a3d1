"""The book protocol: `chapter.train_ranking` itself, run as printed.

Nothing in the chapter's loop changes. What a run needs is arranged
around it, through the objects the loop is handed:

- the batches (`Watched`): where a signal may stop the run, progress,
  the epoch's end (a checkpoint is saved there);
- the loss (`Recorded`): each batch's values, so the record holds the
  chapter's figure for every epoch, not only the last printed one;
- the evaluator (`Evaluated`): never scores a model that is not finite,
  times itself, and keeps the metrics (with the fast evaluator, the
  ties that decided them);
- d2l's Animator: drawn inside a notebook, as the chapter draws it;
  outside one, nothing is drawn;
- the printed lines: shown as they are, and read back for the record.
"""
import contextlib
import io
import re
import sys
import time

from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from d2l import mxnet as d2l

from . import chapter
from .corrected import call, check_finite, total_batches
from .metrics import TIE_SHARE, Metrics, tie_notice
from .runtime.progress import in_notebook

CHAPTER_K = 50  # the cut-off chapter.evaluate_ranking hard-codes


def train_ranking(net, train_iter, test_iter, loss, trainer, test_seq_iter,
                  num_users, num_items, num_epochs, devices, evaluator,
                  candidates, eval_step=1, *, callbacks=(), history=(),
                  cluster=None, stop=None, draw=None):
    """Run `chapter.train_ranking` with these arguments; return the run's
    result as `corrected.train_ranking` does. `history` holds the rows of
    epochs already done (the chapter's loop then runs the rest); under a
    `cluster`, each worker runs the chapter's loop on its part of every
    batch, and its step counts the whole batch. `draw`: d2l's Animator
    as the chapter draws it (None: only inside a notebook)."""
    run = Run(list(history), callbacks, stop or (lambda: None), net)
    done = len(run.history)
    printed = io.StringIO()
    tee = Tee(sys.stdout, printed)
    call(callbacks, 'on_train_begin', net, trainer, len(train_iter),
         total_batches(train_iter, num_epochs - done))
    try:
        draw = in_notebook() if draw is None else draw
        with drawing(draw), contextlib.redirect_stdout(tee):
            chapter.train_ranking(
                net, Watched(train_iter, run), test_iter,
                Recorded(loss, run), Scaled(trainer, cluster),
                test_seq_iter, num_users, num_items, num_epochs - done,
                devices, Evaluated(evaluator, run), candidates, eval_step)
        run.end_epoch()
    finally:
        call(callbacks, 'on_train_end')
    return run.result(printed.getvalue(), eval_step, num_epochs)


class Run:
    """What the chapter's loop did, epoch by epoch."""

    def __init__(self, history, callbacks, stop, net):
        self.history, self.callbacks, self.stop = history, callbacks, stop
        self.net, self.epoch, self.open = net, len(history), False
        self.losses, self.sizes, self.metrics = [], [], None
        self.train_seconds = self.eval_seconds = 0.0
        self.examples, self.tic = 0, None

    def begin_epoch(self):
        self.end_epoch()
        self.epoch, self.open = self.epoch + 1, True
        self.losses, self.sizes = [], []
        self.tic = time.perf_counter()

    def begin_batch(self, size):
        self.losses.append([])
        self.sizes.append(size)

    def end_batches(self):
        """The epoch's batches are done: its loss, as the chapter keeps
        it, and its training time."""
        if self.tic is not None:
            self.train_seconds += time.perf_counter() - self.tic
            self.tic = None

    def epoch_loss(self):
        """The chapter's figure for the epoch: a running total of each
        batch's loss (divided by the devices), added every batch, over
        the examples (docs/ERRATA.md, item 3)."""
        l, total = 0., 0.
        for arrays in self.losses:
            if arrays:
                l += sum([a.asnumpy() for a in arrays]).mean() / len(arrays)
            total += l
        return total / max(sum(self.sizes), 1)

    def end_epoch(self, metrics=None):
        """The epoch's row (once), then the callbacks' epoch end."""
        if not self.open:
            return
        self.end_batches()
        self.open = False
        loss = float(self.epoch_loss())
        check_finite(self.net, loss, self.epoch)
        self.examples += sum(self.sizes)
        row = {'epoch': self.epoch, 'loss': loss}
        if metrics is not None:
            row.update(metrics)
            if metrics.tie_share is not None:
                row[TIE_SHARE] = metrics.tie_share
        self.history.append(row)
        call(self.callbacks, 'on_epoch_end', self.epoch, self.history)
        self.stop()  # between epochs, after the epoch's save

    def result(self, printed, eval_step, num_epochs):
        lines = [line for line in printed.splitlines() if line]
        examples_per_sec = float(re.match(r'([\d.]+|inf|nan) examples/sec',
                                          lines[-1]).group(1))
        result = {'history': self.history,
                  'loss': self.history[-1]['loss'],
                  'examples': self.examples,
                  'examples_per_sec': examples_per_sec,
                  'train_seconds': self.train_seconds,
                  'eval_seconds': self.eval_seconds}
        measured = [r for r in self.history if 'hit_rate' in r]
        if measured:
            result.update({m: v for m, v in measured[-1].items()
                           if m not in ('epoch', 'loss')})
            notice = tie_notice(self.metrics, True)
            if notice:  # ours: ties, not the model, decided the metrics
                print(f'd2l-ncf: {notice}', file=sys.stderr)
        else:  # the chapter prints its initial 0 for both
            print(f'd2l-ncf: no epoch was evaluated (an evaluation every '
                  f'{eval_step} epochs, {num_epochs} epochs): the line\'s '
                  f'hit rate and AUC are the chapter\'s initial 0, not '
                  f'measured, and the record leaves them out',
                  file=sys.stderr)
        return result


class Watched:
    """The training batches, as the chapter's loop iterates them."""

    def __init__(self, batches, run):
        self.batches, self.run = batches, run

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        run = self.run
        run.begin_epoch()
        for i, values in enumerate(self.batches):
            run.stop()  # between batches
            if i:
                call(run.callbacks, 'on_batch_end', run.epoch, i)
            run.begin_batch(values[0].shape[0])
            yield values
        call(run.callbacks, 'on_batch_end', run.epoch, len(run.sizes))
        run.end_batches()
        run.stop()  # after the batches, before evaluating


class Recorded:
    """The loss, keeping each call's values (one per device)."""

    def __init__(self, loss, run):
        self.loss, self.run = loss, run

    def __call__(self, positive, negative):
        value = self.loss(positive, negative)
        self.run.losses[-1].append(value)
        return value


class Evaluated:
    """The evaluator: on finite models only, timed, its metrics kept;
    returns the chapter's ``(hit_rate, auc)``."""

    def __init__(self, evaluator, run):
        self.evaluator, self.run = evaluator, run

    def __call__(self, net, *args):
        run = self.run
        run.end_batches()
        check_finite(net, float(run.epoch_loss()), run.epoch)
        tic = time.perf_counter()
        metrics = Metrics.of(self.evaluator(net, *args), CHAPTER_K)
        run.eval_seconds += time.perf_counter() - tic
        run.metrics = metrics
        call(run.callbacks, 'on_evaluate', run.epoch, metrics)
        run.end_epoch(metrics)
        return metrics['hit_rate'], metrics['auc']


class Scaled:
    """The trainer; under a cluster, each step counts every worker's
    examples (the chapter's loop sees only this worker's part)."""

    def __init__(self, trainer, cluster):
        self.trainer = trainer
        self.scale = cluster.scale if cluster is not None else 1

    def step(self, batch_size):
        self.trainer.step(batch_size * self.scale)


class Tee(io.TextIOBase):
    """Writes go to every stream given."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()


class Quiet:
    """d2l's Animator outside a notebook: draws nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def add(self, *args):
        pass


@contextlib.contextmanager
def drawing(draw):
    """d2l's Animator as it is when `draw`, else one that draws nothing,
    while the chapter's loop runs."""
    animator = d2l.Animator
    d2l.Animator = animator if draw else Quiet
    try:
        yield
    finally:
        d2l.Animator = animator
