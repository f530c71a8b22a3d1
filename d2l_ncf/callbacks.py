"""What a run adds to the training loops (`corrected`, `book`): each a
callback with some of the events the loops call (`corrected`'s
docstring lists them)."""
from .runtime.progress import bar


class Callback:
    """A base that does nothing at every event; override what you need."""

    def on_train_begin(self, net, trainer, batches_per_epoch,
                       total_batches):
        pass

    def on_batch_end(self, epoch, batch):
        pass

    def on_evaluate(self, epoch, metrics):
        pass

    def on_epoch_end(self, epoch, history):
        pass

    def on_train_end(self):
        pass


class Penalty:
    """A penalty term ``fn(net, users, items, negatives)`` added to the
    corrected step's objective (e.g. `model.embedding_l2`)."""

    def __init__(self, fn):
        self.fn = fn

    def penalty(self, net, users, items, negatives):
        return self.fn(net, users, items, negatives)


def penalty_of(callbacks):
    """The sum of the callbacks' penalties, as one function, or None."""
    terms = [c.penalty for c in callbacks if hasattr(c, 'penalty')]
    if not terms:
        return None
    return lambda *args: sum(t(*args) for t in terms[1:]) + terms[0](*args)


class Averaging(Callback):
    """Evaluate a moving average of the weights: `averager` (an
    `averaging.WeightAverage`) is updated after every batch, and its
    weights are the ones checked and evaluated."""

    def __init__(self, averager):
        self.averager = averager

    def on_batch_end(self, epoch, batch):
        self.averager.update()

    def weights(self):
        return self.averager.applied()


class ProgressBar(Callback):
    """A bar over the batches on stderr, with each epoch's loss."""

    def __init__(self, enabled=True):
        self.enabled, self.bar = enabled, None

    def on_train_begin(self, net, trainer, batches_per_epoch,
                       total_batches):
        self.bar = bar(total=total_batches, enabled=self.enabled,
                       desc='train', unit='batch')

    def on_batch_end(self, epoch, batch):
        self.bar.update()

    def on_epoch_end(self, epoch, history):
        self.bar.set_postfix(epoch=epoch, loss=f'{history[-1]["loss"]:.3f}')

    def on_train_end(self):
        if self.bar is not None:
            self.bar.close()


class Animator(Callback):
    """d2l's Animator of the test metrics per epoch, as the chapter draws
    it (for the corrected loop inside a notebook)."""

    def __init__(self, num_epochs):
        self.num_epochs, self.animator = num_epochs, None

    def on_evaluate(self, epoch, metrics):
        from d2l import mxnet as d2l  # only where a figure is drawn
        from .metrics import label
        if self.animator is None:
            self.animator = d2l.Animator(
                xlabel='epoch', xlim=[1, self.num_epochs], ylim=[0, 1],
                legend=['test ' + label(m, metrics.k) for m in metrics])
        self.animator.add(epoch, tuple(metrics.values()))
