"""The chapter's pairwise training loop, ported as printed.

It knows nothing about NeuMF: any net taking ``(users, items)`` works.
Its printed figures keep the chapter's defects (README.md explains them):
the loss accumulates across batches and the timer is never restarted.
Beside the printed lines it returns what a run needs to record: a row per
epoch, and wall-clock training and evaluation seconds measured apart.
"""
import sys
import time

import numpy
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from d2l import mxnet as d2l
from mxnet import autograd, gluon

from .callbacks import Animator, Hooks, Loop
from .engine.scoring import NonFiniteModelError, non_finite_parameters
from .losses import compiled_objective
from .metrics import TIE_SHARE, Metrics, tie_notice
from .protocol import get_protocol
from .runtime.progress import in_notebook


def train_ranking(net, train_iter, test_iter, loss, trainer, test_seq_iter,
                  num_users, num_items, num_epochs, devices, evaluator,
                  candidates, eval_step=1, *, protocol='book', callbacks=()):
    """Train ``net`` with a pairwise loss; evaluate every ``eval_step``.

    With ``protocol='book'`` this is the chapter's loop and prints its two
    lines; ``'corrected'`` reports the mean loss per example and times
    training batches only. ``train_iter`` yields (users, items, negatives)
    with negatives of shape (batch,) or (batch, num_neg), and optionally
    a fourth array of per-example weights, passed to ``loss`` as its third
    argument (the reported loss is then the weighted one). ``evaluator``
    returns `metrics.Metrics` (ours), or the chapter's (hit_rate, auc).
    Returns a dict: ``history`` (a row per epoch), the final ``loss`` and
    metrics, ``examples_per_sec`` as printed, the ``examples`` trained
    on, and the measured ``train_seconds`` and ``eval_seconds``.

    ``callbacks``, a list of callbacks or a `callbacks.Hooks`, hook into
    the loop (per batch, per epoch, a penalty added to the objective, the
    weights to evaluate; e.g. `ProgressBar`, `Penalty`, `Averaging`); a
    `Hooks` also hands in the rows of the epochs done (to continue a
    run), a `distributed.Cluster`, whether to draw d2l's Animator (by
    default only inside a notebook, as the chapter draws it) and where a
    signal may stop the loop. A loss that is not finite raises
    `NonFiniteLossError` before the update that would spread it;
    parameters that are not finite after an epoch's last update raise
    `NonFiniteModelError` before the net is evaluated or saved. A metric
    never measured (``eval_step`` above the epochs) is left out of the
    result, not reported as 0.

    Each batch runs through `Step`: the chapter's calls, or one compiled
    graph of net and loss (`compiled_objective` says when).
    """
    protocol = get_protocol(protocol)
    hooks = loop_hooks(callbacks, protocol, evaluator, num_epochs)
    history, step = hooks.history, Step(protocol, net, loss, hooks)
    start_epoch, scale = hooks.start_epoch, hooks.scale
    timer, clock, metrics = d2l.Timer(), Clock(), last_metrics(history)
    hooks.on_train_begin(Loop.of(net, trainer, devices, num_epochs,
                                 start_epoch, train_iter))
    try:
        for epoch in range(start_epoch, num_epochs):
            metric, l, i = d2l.Accumulator(3), 0., -1
            clock.start_epoch(timer, protocol)
            hooks.on_epoch_begin(epoch + 1)
            for i, values in enumerate(train_iter):
                hooks.safe_point()  # e.g. SIGINT: between batches
                hooks.on_batch_begin(epoch + 1, i + 1)
                input_data = []
                for v in values:
                    input_data.append(gluon.utils.split_and_load(v, devices))
                ls = step(input_data, values)  # forward and backward
                batch_loss = hooks.total(sum([l.asnumpy() for l in ls]))
                check_finite_loss(batch_loss, epoch + 1, i + 1)
                if protocol.running_loss_sum:  # the chapter's bookkeeping
                    l += batch_loss.mean() / (len(devices) * scale)
                else:  # this batch's summed loss: the epoch mean is exact
                    l = float(batch_loss.sum())
                trainer.step(values[0].shape[0] * scale)
                metric.add(l, values[0].shape[0] * scale,
                           values[0].size * scale)
                timer.stop()
                if not protocol.cumulative_timer:
                    timer.start()
                hooks.on_batch_end(epoch + 1, i + 1, l)
            clock.end_epoch(metric)
            check_updated(net, epoch + 1, i + 1)
            hooks.safe_point()  # after the batches, before evaluating
            evaluated = evaluate_epoch(
                hooks, net, epoch + 1, i + 1,
                evaluates(epoch + 1, eval_step, num_epochs),
                clock, lambda: Metrics.of(evaluator(
                    net, test_iter, test_seq_iter, candidates, num_users,
                    num_items, devices), protocol.cutoff()))
            metrics = evaluated or metrics
            history.append(epoch_row(epoch + 1, metric, evaluated))
            hooks.on_epoch_end(epoch + 1, history)
            hooks.safe_point()  # between epochs, after the epoch's save
    finally:  # e.g. the progress bar closes: a stop line gets its own
        hooks.on_train_end()
    return report(hooks, protocol, timer, clock, metric, metrics, history,
                  devices, num_epochs - start_epoch, eval_step, num_epochs)


def loop_hooks(callbacks, protocol, evaluator, num_epochs):
    """`callbacks` as a `Hooks` (with d2l's Animator inside a notebook),
    once the evaluator is known to follow the loop's protocol."""
    protocol.check_follows(getattr(evaluator, 'protocol', protocol))
    hooks = (callbacks if isinstance(callbacks, Hooks)
             else Hooks(callbacks))
    plot = in_notebook() if hooks.plot == 'auto' else hooks.plot
    if hooks.reporter and plot:
        hooks.add(Animator(num_epochs, protocol))
    return hooks


def last_metrics(history):
    """The last evaluation among `history`'s rows (a resumed run reports
    it), or no metrics."""
    metrics = {}
    for row in history:
        metrics = {m: v for m, v in row.items()
                   if m not in ('epoch', 'loss', TIE_SHARE)} or metrics
    return metrics


def epoch_row(epoch, metric, metrics):
    """History's row of an epoch: its mean loss, and the metrics (with
    their tie share, ours) if it was evaluated."""
    row = {'epoch': epoch, 'loss': metric[0] / metric[1], **metrics}
    if getattr(metrics, 'tie_share', None) is not None:
        row[TIE_SHARE] = metrics.tie_share
    return row


class Clock:
    """Wall-clock seconds of training and of evaluation, measured apart,
    and the examples trained on (the printed figures keep d2l's Timer)."""

    def __init__(self):
        self.train_seconds, self.eval_seconds, self.examples = 0.0, 0.0, 0
        self.tic = None

    def start_epoch(self, timer, protocol):
        self.tic = time.perf_counter()
        if not protocol.cumulative_timer:
            timer.start()

    def end_epoch(self, metric):
        self.train_seconds += time.perf_counter() - self.tic
        self.examples += int(metric[1])


def evaluate_epoch(hooks, net, epoch, batches, due, clock, evaluate):
    """The epoch's metrics from `evaluate()` when `due` (on the reporter
    only), with the weights the hooks evaluate; else none ({})."""
    with autograd.predict_mode(), hooks.weights():
        if hooks.has_weights:  # the weights evaluated and saved
            check_updated(net, epoch, batches)
        if not (due and hooks.reporter):
            return {}
        tic = time.perf_counter()
        try:
            metrics = evaluate()
        except NonFiniteModelError as err:
            raise NonFiniteModelError(
                f'epoch {epoch}, evaluation: {err}') from None
        clock.eval_seconds += time.perf_counter() - tic
        hooks.on_evaluate(epoch, metrics)
        return metrics


def report(hooks, protocol, timer, clock, metric, metrics, history,
           devices, epochs_run, eval_step, num_epochs):
    """Print the chapter's two lines (on the reporter) and return the
    run's result."""
    if protocol.cumulative_timer:  # the chapter's figure
        examples_per_sec = metric[2] * epochs_run / timer.sum()
    else:
        examples_per_sec = clock.examples / timer.sum()
    if hooks.reporter:
        k = getattr(metrics, 'k', None)
        print(f'train loss {metric[0] / metric[1]:.3f}, ' + (', '.join(
            f'test {protocol.label(m, k)} {float(v):.3f}'
            for m, v in metrics.items()) or (
            f'not evaluated (evaluation every {eval_step} epochs, '
            f'{num_epochs} epochs)')))
        print(f'{examples_per_sec:.1f} examples/sec '
              f'on {str(devices)}')
        notice = tie_notice(metrics, protocol.ties == 'id')
        if notice:  # ours: ties, not the model, decided the metrics
            print(f'd2l-ncf: {notice}', file=sys.stderr)
    return dict({'history': history, 'loss': metric[0] / metric[1],
                 'examples': clock.examples,
                 'examples_per_sec': examples_per_sec,
                 'train_seconds': clock.train_seconds,
                 'eval_seconds': clock.eval_seconds},
                **{m: float(v) for m, v in metrics.items()},
                **({TIE_SHARE: metrics.tie_share}
                   if getattr(metrics, 'tie_share', None) is not None
                   else {}))


def evaluates(epoch, eval_step, num_epochs):
    """Whether `epoch` is evaluated: every `eval_step`-th, as the
    chapter's loop does, and the last one too, so the final line pairs
    the last loss with the last model's metrics (with eval_step 2 and 3
    epochs the chapter pairs epoch 3's loss with epoch 2's metrics). An
    `eval_step` beyond `num_epochs` evaluates none (a run timing only
    the training)."""
    return epoch % eval_step == 0 or (
        epoch == num_epochs and eval_step <= num_epochs)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; names the epoch and batch."""


def check_finite_loss(batch_loss, epoch, batch):
    """Refuse a batch whose loss is NaN or infinite, before its update."""
    if not numpy.isfinite(batch_loss).all():
        raise NonFiniteLossError(
            f'epoch {epoch}, batch {batch}: the loss is '
            f'{float(batch_loss.sum())}; training stopped before this '
            f'update')


class Step:
    """One batch's forward and backward pass, given its arrays split over
    the devices (users, items, negatives, and weights if any): through
    the compiled graph `compiled_objective` builds for the first batch's
    shapes, else the chapter's calls (always with a penalty). Returns
    the loss of each device's part."""

    def __init__(self, protocol, net, loss, hooks):
        self.protocol, self.net, self.loss = protocol, net, loss
        self.penalty = hooks.penalty if hooks.penalizes else None
        self.graph, self.built = None, self.penalty is not None

    def __call__(self, input_data, values):
        # (users, items, negatives), and per-example weights if the
        # iterator gives them (ours: sampling.recency_weights)
        triples, weights = input_data[:3], input_data[3:]
        if not self.built:
            self.graph = compiled_objective(self.protocol, self.net,
                                            self.loss, values)
            self.built = True
        if self.graph is not None:  # one graph: the scores, the loss
            with autograd.record():
                ls = [self.graph(*t) for t in zip(*triples, *weights)]
            objectives = ls
        else:
            ls, objectives = loss_of_batch(self.net, self.loss, triples,
                                           weights, self.penalty)
        [l.backward(retain_graph=False) for l in objectives]
        return ls


def check_updated(net, epoch, batches):
    """Refuse parameters that are NaN or infinite after an epoch."""
    bad = non_finite_parameters(net)
    if bad:
        raise NonFiniteModelError(
            f'epoch {epoch}, batch {batches} (its last; parameters are '
            f'checked after each epoch): parameters are not finite '
            f'({", ".join(bad[:4])}{" ..." if len(bad) > 4 else ""}); '
            f'training stopped before this model was evaluated or saved')


def loss_of_batch(net, loss, triples, weights, penalty=None):
    """The chapter's step: positives, then negatives, then the loss (and
    ``penalty(net, users, items, negatives)``, if any), recorded for
    autograd. Returns (losses, objectives), one per device."""
    with autograd.record():
        p_pos = [net(*t) for t in zip(*triples[:-1])]
        p_neg = [score_negatives(net, *t)
                 for t in zip(*triples[:-2], triples[-1])]
        ls = [loss(p, n, *w) for p, n, *w in zip(p_pos, p_neg, *weights)]
        objectives = ls if penalty is None else [
            l + penalty(net, *t) for l, t in zip(ls, zip(*triples))]
    return ls, objectives


def score_negatives(net, users, negatives):
    """Scores of negatives shaped (batch,) or (batch, num_neg)."""
    if negatives.ndim == 1:
        return net(users, negatives)  # the chapter's case: (batch, 1)
    batch, num_neg = negatives.shape
    flat_users = users.reshape(-1, 1).repeat(num_neg, axis=1).reshape(-1)
    return net(flat_users, negatives.reshape(-1)).reshape(batch, num_neg)
