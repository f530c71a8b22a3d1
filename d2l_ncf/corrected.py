"""The chapter's training loop, corrected: `train_ranking` beside
`chapter.train_ranking`, in the same order and with the same names.

Each departure from the chapter is a visible line, marked ``# fix:``:

- the step: one compiled graph of net and loss (`engine.step.FastStep`);
  positives and negatives are scored together, the model outputs
  logits (`model.NeuMF(sigmoid_output=False)`);
- the loss: the mean per example, summed on the device and read once
  per epoch (the chapter adds a running total every batch);
- the timer: restarted each epoch and stopped after each batch, so
  examples/sec counts training time only;
- the evaluator: every unseen item ranked, with `k`, NDCG and ties in
  expectation (`evaluation.RankingEvaluator`), never on a model that is
  not finite;
- the last epoch is always evaluated, so the final line pairs the last
  loss with the last model's metrics.

What a run adds is `callbacks`: objects with any of
``on_train_begin(net, trainer, batches_per_epoch, total_batches)``,
``on_batch_end(epoch, batch)``, ``on_evaluate(epoch, metrics)``,
``on_epoch_end(epoch, history)``, ``on_train_end()`` and
``weights()`` (a context in which the net is checked and evaluated, e.g.
a moving average of the weights); `stop` is called between batches (a
signal may end the run there).
"""
import contextlib
import sys
import time

import numpy
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from d2l import mxnet as d2l
from mxnet import autograd

from .engine.scoring import NonFiniteModelError, non_finite_parameters
from .engine.step import FastStep, epoch_batches
from .metrics import TIE_SHARE, Metrics, label, tie_notice


def train_ranking(net, train_iter, test_iter, loss, trainer, test_seq_iter,
                  num_users, num_items, num_epochs, devices, evaluator,
                  candidates, eval_step=1, *, callbacks=(), history=(),
                  penalty=None, cluster=None, stop=None):
    """Train `net` with a pairwise loss and evaluate it; print the final
    line and return the run's result: ``history`` (a row per epoch),
    ``loss`` and the metrics of the last evaluation, ``examples``,
    ``examples_per_sec``, ``train_seconds`` and ``eval_seconds``.

    `history` holds the rows of epochs already done (a resumed run
    continues after them); `cluster` is this worker's part of a
    `engine.distributed.Cluster` (losses summed over the workers, only
    its reporter evaluates and prints).
    """
    history, stop = list(history), stop or (lambda: None)
    scale = cluster.scale if cluster is not None else 1
    step = FastStep(net, loss, trainer, devices, penalty,  # fix: one graph
                    scale=scale)
    reporter = cluster is None or cluster.is_reporter
    timer, metrics = d2l.Timer(), last_metrics(history)
    train_seconds = eval_seconds = examples = 0
    call(callbacks, 'on_train_begin', net, trainer, len(train_iter),
         total_batches(train_iter, num_epochs - len(history)))
    try:
        for epoch in range(len(history), num_epochs):
            n, tic = 0, time.perf_counter()
            timer.start()  # fix: the chapter never restarts its timer
            # the epoch's batches, sampled at once and put on the device;
            # a worker of a cluster takes its part batch by batch (the
            # sparse trainer reads each global batch's rows as it goes)
            batches = (epoch_batches(train_iter, devices[0])
                       if cluster is None else train_iter)
            worker_losses = []
            for i, values in enumerate(batches):
                stop()  # between batches
                l = step(values)  # forward, backward, update; loss kept
                if cluster is not None:  # every worker's part, added and
                    # read each batch, as before the fused step: without
                    # that read two dist_sync runs differed (cause not
                    # pinned down; the host batches feed MXNet's async copies)
                    worker_losses.append(float(
                        cluster.sum(l.asnumpy()).sum()))
                n += values[0].shape[0] * scale
                timer.stop()
                timer.start()  # fix: each batch timed once (sampling too)
                call(callbacks, 'on_batch_end', epoch + 1, i + 1)
            losses = step.finish()  # fix: each batch's sum, read once
            if cluster is not None:
                losses = worker_losses
            epoch_loss = sum(losses) / n  # fix: the mean per example
            check_finite(net, epoch_loss, epoch + 1)
            train_seconds += time.perf_counter() - tic
            examples += n
            stop()  # after the batches, before evaluating
            row = {'epoch': epoch + 1, 'loss': epoch_loss}
            if reporter and evaluates(epoch + 1, eval_step, num_epochs):
                tic = time.perf_counter()
                with autograd.predict_mode(), weights(callbacks) as swapped:
                    if swapped:  # the weights evaluated are other weights
                        check_finite(net, epoch_loss, epoch + 1)
                    metrics = Metrics.of(evaluator(
                        net, test_iter, test_seq_iter, candidates,
                        num_users, num_items, devices), None)
                eval_seconds += time.perf_counter() - tic
                call(callbacks, 'on_evaluate', epoch + 1, metrics)
                row.update(metrics)
                if metrics.tie_share is not None:
                    row[TIE_SHARE] = metrics.tie_share
            history.append(row)
            call(callbacks, 'on_epoch_end', epoch + 1, history)
            stop()  # between epochs, after the epoch's save
    finally:
        call(callbacks, 'on_train_end')
    result = {'history': history, 'loss': history[-1]['loss'],
              'examples': examples, 'train_seconds': train_seconds,
              'eval_seconds': eval_seconds,
              'examples_per_sec': examples / max(timer.sum(), 1e-9)}
    result.update({m: float(v) for m, v in metrics.items()})
    if getattr(metrics, 'tie_share', None) is not None:
        result[TIE_SHARE] = metrics.tie_share
    if reporter:
        print_result(result, metrics, devices, eval_step, num_epochs)
    return result


def print_result(result, metrics, devices, eval_step, num_epochs):
    """The chapter's two lines, each metric named with its cut-off."""
    k = getattr(metrics, 'k', None)
    print(f'train loss {result["loss"]:.3f}, ' + (', '.join(
        f'test {label(m, k)} {float(v):.3f}'
        for m, v in metrics.items()) or (
        f'not evaluated (evaluation every {eval_step} epochs, '
        f'{num_epochs} epochs)')))
    print(f'{result["examples_per_sec"]:.1f} examples/sec on {devices}')
    notice = tie_notice(metrics, False)
    if notice:  # ours: ties, not the model, decided the metrics
        print(f'd2l-ncf: {notice}', file=sys.stderr)


def total_batches(train_iter, epochs):
    """Batches in the next `epochs` epochs: an iterator that carries
    the remainder of one epoch into the next says it exactly."""
    if hasattr(train_iter, 'batches_in'):
        return train_iter.batches_in(epochs)
    return epochs * len(train_iter)


def call(callbacks, event, *args):
    """Call `event` on each callback that defines it, in order."""
    for c in callbacks:
        method = getattr(c, event, None)
        if method is not None:
            method(*args)


@contextlib.contextmanager
def weights(callbacks):
    """The callbacks' ``weights()`` contexts (e.g. a moving average of the
    weights swapped in), entered in order; True inside if there were
    any, so the net's new weights get checked."""
    with contextlib.ExitStack() as stack:
        swapped = [stack.enter_context(c.weights()) for c in callbacks
                   if hasattr(c, 'weights')]
        yield bool(swapped)


def last_metrics(history):
    """The last evaluation among `history`'s rows (a resumed run reports
    it), or no metrics."""
    metrics = Metrics({})
    for row in history:
        measured = {m: v for m, v in row.items()
                    if m not in ('epoch', 'loss', TIE_SHARE)}
        if measured:
            metrics = Metrics(measured, None)
    return metrics


def evaluates(epoch, eval_step, num_epochs):
    """Whether `epoch` is evaluated: every `eval_step`-th, as the
    chapter's loop does, and the last one too (fix: with eval_step 2 and
    3 epochs the chapter pairs epoch 3's loss with epoch 2's metrics).
    An `eval_step` beyond `num_epochs` evaluates none."""
    return epoch % eval_step == 0 or (
        epoch == num_epochs and eval_step <= num_epochs)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; names the epoch."""


def check_finite(net, epoch_loss, epoch):
    """Refuse an epoch whose loss or parameters are NaN or infinite:
    such a model is never evaluated or saved."""
    if not numpy.isfinite(epoch_loss):
        raise NonFiniteLossError(
            f'epoch {epoch}: the loss is {epoch_loss}; training stopped '
            f'before this model was evaluated or saved')
    bad = non_finite_parameters(net)
    if bad:
        raise NonFiniteModelError(
            f'epoch {epoch}: parameters are not finite '
            f'({", ".join(bad[:4])}{" ..." if len(bad) > 4 else ""}); '
            f'training stopped before this model was evaluated or saved')
