"""Hooks into the training loop, so the loop stays the chapter's.

`training.train_ranking` calls, on each callback that defines them:

- ``on_train_begin(loop)``: a `Loop` (net, trainer, devices, epochs,
  the epoch it starts after, batches per epoch, batches it will run);
- ``on_epoch_begin(epoch)``, ``on_batch_begin(epoch, batch)``,
  ``on_batch_end(epoch, batch, loss)`` (epochs and batches count from 1;
  `loss` as the loop keeps it);
- ``penalty(net, users, items, negatives)``: a term added to each
  device's objective (not to the reported loss); with any penalty the
  step is the chapter's two calls, not the fused graph;
- ``weights()``: a context in which the net is checked and evaluated
  (e.g. `Averaging` swaps in a moving average of the weights);
- ``on_evaluate(epoch, metrics)``: after an evaluation (`metrics.Metrics`);
- ``on_epoch_end(epoch, history)``: after the epoch's row is recorded
  (e.g. to save a checkpoint);
- ``on_train_end()``: always, also when training stops with an error.

A callback is any object: `Callback` only documents the names. Beside
the callbacks, `Hooks` carries what a run hands the loop: the rows of
the epochs done (to continue), a `distributed.Cluster`, whether to draw,
and the safe points where a signal may stop it.
"""
import collections
import contextlib

from .runtime.progress import bar



class Loop(collections.namedtuple(
        'Loop', 'net trainer devices num_epochs start_epoch '
                'batches_per_epoch total_batches')):
    """What a loop is about to run, as `on_train_begin` receives it."""

    @classmethod
    def of(cls, net, trainer, devices, num_epochs, start_epoch, train_iter):
        """The loop over `train_iter` from `start_epoch` to `num_epochs`."""
        return cls(net, trainer, devices, num_epochs, start_epoch,
                   len(train_iter),
                   total_batches(train_iter, num_epochs - start_epoch))


def total_batches(train_iter, epochs):
    """Batches in the next `epochs` epochs: an iterator that carries
    the remainder of one epoch into the next says it exactly."""
    if hasattr(train_iter, 'batches_in'):
        return train_iter.batches_in(epochs)
    return epochs * len(train_iter)


EVENTS = ('on_train_begin', 'on_epoch_begin', 'on_batch_begin',
          'on_batch_end', 'on_evaluate', 'on_epoch_end', 'on_train_end')


class Callback:
    """A base that does nothing at every event; override what you need."""

    def on_train_begin(self, loop):
        pass

    def on_epoch_begin(self, epoch):
        pass

    def on_batch_begin(self, epoch, batch):
        pass

    def on_batch_end(self, epoch, batch, loss):
        pass

    def on_evaluate(self, epoch, metrics):
        pass

    def on_epoch_end(self, epoch, history):
        pass

    def on_train_end(self):
        pass


class Hooks:
    """The callbacks of one loop, called in the order given, and what a
    run hands the loop beside them.

    `history`: the rows of the epochs done, to continue a run from;
    `cluster`: a `distributed.Cluster` whose workers each train a part
    of every batch (losses are summed over them, only its reporter
    evaluates and prints); `plot`: draw d2l's Animator as the chapter
    does (``'auto'``: only inside a notebook); `safe_point`: called where
    stopping leaves nothing half done (between batches, after an
    epoch's batches, after its save), e.g. `stopping.check`.
    """

    def __init__(self, callbacks=(), *, history=(), cluster=None,
                 plot='auto', safe_point=None):
        self.callbacks = [c for c in callbacks if c is not None]
        self.history, self.cluster, self.plot = list(history), cluster, plot
        self.safe_point = safe_point or (lambda: None)
        for event in EVENTS:
            setattr(self, event, self._caller(event))

    @property
    def start_epoch(self):
        """The last epoch `history` holds (0 for a new run)."""
        return self.history[-1]['epoch'] if self.history else 0

    @property
    def scale(self):
        """Workers whose examples one step sums (1 without a cluster)."""
        return 1 if self.cluster is None else self.cluster.scale

    @property
    def reporter(self):
        """Whether this process evaluates and prints."""
        return self.cluster is None or self.cluster.is_reporter

    def total(self, batch_loss):
        """A batch's loss summed over the cluster's workers."""
        return (batch_loss if self.cluster is None
                else self.cluster.sum(batch_loss))

    def add(self, callback):
        self.callbacks.append(callback)
        for event in EVENTS:
            setattr(self, event, self._caller(event))

    def _caller(self, event):
        methods = [getattr(c, event) for c in self.callbacks
                   if hasattr(c, event)]

        def call(*args):
            for method in methods:
                method(*args)
        return call

    @property
    def penalizes(self):
        return any(hasattr(c, 'penalty') for c in self.callbacks)

    def penalty(self, net, users, items, negatives):
        """The sum of the callbacks' penalties for one device's batch."""
        terms = [c.penalty(net, users, items, negatives)
                 for c in self.callbacks if hasattr(c, 'penalty')]
        return sum(terms[1:], terms[0])

    @property
    def has_weights(self):
        return any(hasattr(c, 'weights') for c in self.callbacks)

    @contextlib.contextmanager
    def weights(self):
        with contextlib.ExitStack() as stack:
            for c in self.callbacks:
                if hasattr(c, 'weights'):
                    stack.enter_context(c.weights())
            yield


class Penalty(Callback):
    """A penalty term from a function ``fn(net, users, items, negatives)``
    (e.g. `model.embedding_l2`)."""

    def __init__(self, fn):
        self.fn = fn

    def penalty(self, net, users, items, negatives):
        return self.fn(net, users, items, negatives)


class Averaging(Callback):
    """Evaluate a moving average of the weights: `averager` (an
    `averaging.WeightAverage`) is updated after every batch, and its
    weights are the ones checked and evaluated."""

    def __init__(self, averager):
        self.averager = averager

    def on_batch_end(self, epoch, batch, loss):
        self.averager.update()

    def weights(self):
        return self.averager.applied()


class ProgressBar(Callback):
    """A bar over the batches on stderr, with each epoch's loss."""

    def __init__(self, enabled=True):
        self.enabled, self.bar = enabled, None

    def on_train_begin(self, loop):
        self.bar = bar(total=loop.total_batches, enabled=self.enabled,
                       desc='train', unit='batch')

    def on_batch_end(self, epoch, batch, loss):
        self.bar.update()

    def on_epoch_end(self, epoch, history):
        self.bar.set_postfix(epoch=epoch, loss=f'{history[-1]["loss"]:.3f}')

    def on_train_end(self):
        if self.bar is not None:
            self.bar.close()


class Animator(Callback):
    """d2l's Animator of the test metrics per epoch, as the chapter draws
    it (inside a notebook)."""

    def __init__(self, num_epochs, protocol):
        self.num_epochs, self.protocol, self.animator = (num_epochs,
                                                         protocol, None)

    def on_evaluate(self, epoch, metrics):
        from d2l import mxnet as d2l  # only where a figure is drawn
        if self.animator is None:
            self.animator = d2l.Animator(
                xlabel='epoch', xlim=[1, self.num_epochs], ylim=[0, 1],
                legend=['test ' + self.protocol.label(m, metrics.k)
                        for m in metrics])
        self.animator.add(epoch, tuple(metrics.values()))
