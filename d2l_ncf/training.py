"""The chapter's pairwise training loop, ported as printed.

It knows nothing about NeuMF: any net taking ``(users, items)`` works.
Its printed figures keep the chapter's defects (README.md explains them):
the loss accumulates across batches and the timer is never restarted.
Beside the printed lines it returns what a run needs to record: a row per
epoch, and wall-clock training and evaluation seconds measured apart.
"""
import contextlib
import time

import numpy
from d2l import mxnet as d2l
from mxnet import autograd, gluon

from .losses import PairwiseObjective
from .model import NonFiniteModelError, non_finite_parameters
from .progress import bar, in_notebook
from .protocol import get_protocol
from .stopping import check as check_stop, requested as stop_requested


def train_ranking(net, train_iter, test_iter, loss, trainer, test_seq_iter,
                  num_users, num_items, num_epochs, devices, evaluator,
                  candidates, eval_step=1, *, protocol='book',
                  progress=False, plot='auto', start_epoch=0, history=None,
                  epoch_end=None, penalty=None, averager=None,
                  cluster=None):
    """Train ``net`` with a pairwise loss; evaluate every ``eval_step``.

    With ``protocol='book'`` this is the chapter's loop and prints its two
    lines; ``'corrected'`` reports the mean loss per example and times
    training batches only. ``train_iter`` yields (users, items, negatives)
    with negatives of shape (batch,) or (batch, num_neg), and optionally
    a fourth array of per-example weights, passed to ``loss`` as its third
    argument (the reported loss is then the weighted one). ``evaluator``
    returns (hit_rate, auc), as the chapter's, or a dict of metrics.
    ``progress`` shows a bar on stderr; ``plot`` draws d2l's Animator
    (``'auto'``: only inside a notebook). Returns a dict: ``history`` (a
    row per epoch), the final ``loss`` and metrics, ``examples_per_sec``
    as printed, the ``examples`` trained on, and the measured
    ``train_seconds`` and ``eval_seconds``.

    To continue a run, pass the epochs done as ``start_epoch`` and their
    ``history``. ``epoch_end(epoch, history)`` is called after each epoch
    (to save a checkpoint). ``penalty(net, users, items, negatives)``, if
    given, is added to each batch's objective but not to the reported
    loss (e.g. `model.embedding_l2`). With an ``averager``
    (`averaging.WeightAverage`), it is updated after every batch and the
    evaluation scores its averaged weights. A loss that is not finite raises
    `NonFiniteLossError` before the update that would spread it; parameters
    that are not finite after an epoch's last update raise
    `model.NonFiniteModelError` before the net is evaluated or saved. A
    metric never measured (``eval_step`` above the epochs) is left out of
    the result, not reported as 0.
    With a `distributed.Cluster`, ``train_iter`` gives this worker's part
    of each batch, the loss is summed over the workers, and only worker 0
    evaluates and prints.

    Under the corrected protocol (its ``fused_step``), with one of the
    package's losses and no ``penalty``, each batch runs as one compiled
    graph, `losses.PairwiseObjective`: positives and negatives scored by
    one call of the net, the loss inside (about 1.4x the examples/s at
    the chapter's settings, 3x at the NCF paper's; benchmarks/
    bench_train.py). Its sums run in another order, so its losses agree
    with the two-call step's to about 7 digits, not bit for bit.
    """
    protocol = get_protocol(protocol)
    # workers whose examples one step sums; only the reporter evaluates
    scale = 1 if cluster is None else cluster.scale
    reporter = cluster is None or cluster.is_reporter
    k = getattr(evaluator, 'k', 50)
    timer, metrics = d2l.Timer(), {}
    if plot == 'auto':
        plot = in_notebook()
    animator = None
    history, train_seconds, eval_seconds, examples = (
        list(history or []), 0.0, 0.0, 0)
    for row in history:  # a resumed run reports its last evaluation
        metrics = {m: v for m, v in row.items()
                   if m not in ('epoch', 'loss')} or metrics
    batches = bar(total=total_batches(train_iter, num_epochs - start_epoch),
                  enabled=progress, desc='train', unit='batch')
    fused = (protocol.fused_step and penalty is None
             and PairwiseObjective.supports(loss))
    step = None  # the fused graph, built for the first batch's shapes
    for epoch in range(start_epoch, num_epochs):
        metric, l = d2l.Accumulator(3), 0.
        tic = time.perf_counter()
        if not protocol.cumulative_timer:
            timer.start()
        num_batches = 0
        for i, values in enumerate(train_iter):
            stop_point(batches)  # between batches
            num_batches = i + 1
            input_data = []
            for v in values:
                input_data.append(gluon.utils.split_and_load(v, devices))
            # (users, items, negatives), and per-example weights if the
            # iterator gives them (ours: sampling.recency_weights)
            triples, weights = input_data[:3], input_data[3:]
            if fused and step is None:
                step = fused_objective(net, loss, values[2])
            if step is not None:  # one graph: scores of all, and the loss
                with autograd.record():
                    ls = [step(*t) for t in zip(*triples, *weights)]
                objectives = ls
            else:
                ls, objectives = loss_of_batch(net, loss, triples, weights,
                                               penalty)
            [l.backward(retain_graph=False) for l in objectives]
            batch_loss = sum([l.asnumpy() for l in ls])
            if cluster is not None:
                batch_loss = cluster.sum(batch_loss)
            if not numpy.isfinite(batch_loss).all():
                batches.close()
                raise NonFiniteLossError(
                    f'epoch {epoch + 1}, batch {i + 1}: the loss is '
                    f'{float(batch_loss.sum())}; training stopped before '
                    f'this update')
            if protocol.running_loss_sum:  # the chapter's bookkeeping
                l += batch_loss.mean() / (len(devices) * scale)
            else:  # this batch's summed loss: the epoch mean is exact
                l = float(batch_loss.sum())
            trainer.step(values[0].shape[0] * scale)
            if averager is not None:
                averager.update()
            metric.add(l, values[0].shape[0] * scale, values[0].size * scale)
            timer.stop()
            if not protocol.cumulative_timer:
                timer.start()
            batches.update()
        train_seconds += time.perf_counter() - tic
        examples += int(metric[1])
        check_updated(net, epoch + 1, num_batches)
        if averager is not None:  # the weights evaluated and saved
            with averager.applied():
                check_updated(net, epoch + 1, num_batches)
        stop_point(batches)  # after the batches, before evaluating
        row = {'epoch': epoch + 1, 'loss': metric[0] / metric[1]}
        batches.set_postfix(epoch=epoch + 1, loss=f'{row["loss"]:.3f}')
        with autograd.predict_mode(), (
                averager.applied() if averager is not None
                else contextlib.nullcontext()):
            if (epoch + 1) % eval_step == 0 and reporter:
                tic = time.perf_counter()
                try:
                    metrics = as_metrics(evaluator(
                        net, test_iter, test_seq_iter, candidates,
                        num_users, num_items, devices))
                except NonFiniteModelError as err:
                    raise NonFiniteModelError(
                        f'epoch {epoch + 1}, evaluation: {err}') from None
                except KeyboardInterrupt:  # stopped between its chunks
                    batches.close()
                    raise
                eval_seconds += time.perf_counter() - tic
                row.update(metrics)
                if plot:
                    if animator is None:
                        animator = d2l.Animator(
                            xlabel='epoch', xlim=[1, num_epochs],
                            ylim=[0, 1], legend=[
                                'test ' + metric_label(m, k, protocol)
                                for m in metrics])
                    animator.add(epoch + 1, tuple(metrics.values()))
        history.append(row)
        if epoch_end is not None:
            epoch_end(epoch + 1, history)
        stop_point(batches)  # between epochs
    batches.close()
    if protocol.cumulative_timer:  # the chapter's figure
        examples_per_sec = (metric[2] * (num_epochs - start_epoch)
                            / timer.sum())
    else:
        examples_per_sec = examples / timer.sum()
    if reporter:
        print(f'train loss {metric[0] / metric[1]:.3f}, ' + (', '.join(
            f'test {metric_label(m, k, protocol)} {float(v):.3f}'
            for m, v in metrics.items()) or (
            f'not evaluated (evaluation every {eval_step} epochs, '
            f'{num_epochs} epochs)')))
        print(f'{examples_per_sec:.1f} examples/sec '
              f'on {str(devices)}')
    return dict({'history': history, 'loss': metric[0] / metric[1],
                 'examples': examples, 'examples_per_sec': examples_per_sec,
                 'train_seconds': train_seconds,
                 'eval_seconds': eval_seconds},
                **{m: float(v) for m, v in metrics.items()})


def stop_point(batches):
    """A safe point: after SIGINT or SIGTERM, close the bar (the stop
    message gets its own line) and raise `stopping.Stopped`."""
    if stop_requested() is not None:
        batches.close()
        check_stop()


def total_batches(train_iter, epochs):
    """Batches in the next `epochs` epochs: an iterator that carries
    the remainder of one epoch into the next says it exactly."""
    if hasattr(train_iter, 'batches_in'):
        return train_iter.batches_in(epochs)
    return epochs * len(train_iter)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; names the epoch and batch."""


def check_updated(net, epoch, batches):
    """Refuse parameters that are NaN or infinite after an epoch."""
    bad = non_finite_parameters(net)
    if bad:
        raise NonFiniteModelError(
            f'epoch {epoch}, batch {batches} (its last; parameters are '
            f'checked after each epoch): parameters are not finite '
            f'({", ".join(bad[:4])}{" ..." if len(bad) > 4 else ""}); '
            f'training stopped before this model was evaluated or saved')


def fused_objective(net, loss, negatives):
    """`losses.PairwiseObjective` for batches whose negatives look like
    `negatives`, compiled with static memory and shapes."""
    num_neg = 1 if negatives.ndim == 1 else negatives.shape[1]
    step = PairwiseObjective(net, loss, num_neg)
    step.hybridize(static_alloc=True, static_shape=True)
    return step


def loss_of_batch(net, loss, triples, weights, penalty):
    """The chapter's step: positives, then negatives, then the loss (and
    `penalty`), recorded for autograd. Returns (losses, objectives), one
    per device."""
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


def as_metrics(result):
    """An evaluator's result as an ordered dict of floats."""
    if isinstance(result, dict):
        return {m: float(v) for m, v in result.items()}
    hit_rate, auc = result  # the chapter's evaluator
    return {'hit_rate': float(hit_rate), 'auc': float(auc)}


def metric_label(name, k, protocol):
    """How the result line names a metric; the book's words unchanged."""
    if protocol.fixed_k:
        return {'hit_rate': 'hit rate', 'auc': 'AUC'}.get(name, name)
    return {'hit_rate': f'hit rate@{k}', 'auc': 'AUC',
            'ndcg': f'NDCG@{k}'}.get(name, name)
