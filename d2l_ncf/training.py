"""The chapter's pairwise training loop, ported as printed.

It knows nothing about NeuMF: any net taking ``(users, items)`` works.
Its printed figures keep the chapter's defects (README.md explains them):
the loss accumulates across batches and the timer is never restarted.
Beside the printed lines it returns what a run needs to record: a row per
epoch, and wall-clock training and evaluation seconds measured apart.
"""
import time

import numpy
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from d2l import mxnet as d2l
from mxnet import autograd, gluon

from .callbacks import Animator, Hooks, Loop
from .engine.scoring import NonFiniteModelError, non_finite_parameters
from .losses import ChapterObjective, PairwiseObjective
from .metrics import Metrics
from .protocol import get_protocol
from .runtime.progress import in_notebook
from .runtime.stopping import check as check_stop


def train_ranking(net, train_iter, test_iter, loss, trainer, test_seq_iter,
                  num_users, num_items, num_epochs, devices, evaluator,
                  candidates, eval_step=1, *, protocol='book', plot='auto',
                  history=None, callbacks=(), cluster=None):
    """Train ``net`` with a pairwise loss; evaluate every ``eval_step``.

    With ``protocol='book'`` this is the chapter's loop and prints its two
    lines; ``'corrected'`` reports the mean loss per example and times
    training batches only. ``train_iter`` yields (users, items, negatives)
    with negatives of shape (batch,) or (batch, num_neg), and optionally
    a fourth array of per-example weights, passed to ``loss`` as its third
    argument (the reported loss is then the weighted one). ``evaluator``
    returns `metrics.Metrics` (ours), or the chapter's (hit_rate, auc).
    ``plot`` draws d2l's Animator as the chapter does (``'auto'``: only
    inside a notebook). Returns a dict: ``history`` (a row per epoch),
    the final ``loss`` and metrics, ``examples_per_sec`` as printed, the
    ``examples`` trained on, and the measured ``train_seconds`` and
    ``eval_seconds``.

    To continue a run, pass the rows of the epochs done as ``history``.
    ``callbacks`` hook into the loop (`Callback`: per batch, per epoch,
    a penalty added to the objective, the weights to evaluate; e.g.
    `ProgressBar`, `Penalty`, `Averaging`). A loss that is
    not finite raises `NonFiniteLossError` before the update that would
    spread it; parameters that are not finite after an epoch's last
    update raise `model.NonFiniteModelError` before the net is evaluated
    or saved. A metric never measured (``eval_step`` above the epochs) is
    left out of the result, not reported as 0.
    With a `distributed.Cluster`, ``train_iter`` gives this worker's part
    of each batch, the loss is summed over the workers, and only worker 0
    evaluates and prints.

    Under the corrected protocol (its ``fused_step``), with one of the
    package's losses and no penalty, each batch runs as one compiled
    graph, `losses.PairwiseObjective`: positives and negatives scored by
    one call of the net, the loss inside (about 1.4x the examples/s at
    the chapter's settings, 3x at the NCF paper's; benchmarks/
    bench_train.py). Its sums run in another order, so its losses agree
    with the two-call step's to about 7 digits, not bit for bit. Under
    the book protocol a hybridized net (not ``--reference``) trains
    through `losses.ChapterObjective`, the chapter's two calls and loss
    compiled as one graph: the same bits, fewer operator calls
    (`compiled_objective` says when).
    """
    protocol = get_protocol(protocol)
    theirs = getattr(evaluator, 'protocol', protocol)
    if theirs.name != protocol.name:  # e.g. a RankingEvaluator's
        raise ValueError(f'the evaluator follows the {theirs.name} '
                         f'protocol, the loop the {protocol.name} one; '
                         f'pass protocol={theirs.name!r} (with '
                         f'builders.build: protocol=setup.protocol)')
    # workers whose examples one step sums; only the reporter evaluates
    scale = 1 if cluster is None else cluster.scale
    reporter = cluster is None or cluster.is_reporter
    history = list(history or [])
    start_epoch = history[-1]['epoch'] if history else 0
    hooks = Hooks(callbacks)
    if reporter and (in_notebook() if plot == 'auto' else plot):
        hooks.add(Animator(num_epochs, protocol))
    timer, metrics = d2l.Timer(), {}
    train_seconds, eval_seconds, examples = 0.0, 0.0, 0
    for row in history:  # a resumed run reports its last evaluation
        metrics = {m: v for m, v in row.items()
                   if m not in ('epoch', 'loss')} or metrics
    # the compiled graph of a step, built for the first batch's shapes
    # (a penalty keeps the chapter's calls)
    step, built = None, hooks.penalizes
    hooks.on_train_begin(Loop(net, trainer, devices, num_epochs,
                              start_epoch, len(train_iter),
                              total_batches(train_iter,
                                            num_epochs - start_epoch)))
    try:
        for epoch in range(start_epoch, num_epochs):
            metric, l = d2l.Accumulator(3), 0.
            tic = time.perf_counter()
            if not protocol.cumulative_timer:
                timer.start()
            num_batches = 0
            hooks.on_epoch_begin(epoch + 1)
            for i, values in enumerate(train_iter):
                check_stop()  # SIGINT/SIGTERM: a safe point, between batches
                num_batches = i + 1
                hooks.on_batch_begin(epoch + 1, i + 1)
                input_data = []
                for v in values:
                    input_data.append(gluon.utils.split_and_load(v, devices))
                # (users, items, negatives), and per-example weights if the
                # iterator gives them (ours: sampling.recency_weights)
                triples, weights = input_data[:3], input_data[3:]
                if not built:
                    step, built = compiled_objective(protocol, net, loss,
                                                     values), True
                if step is not None:  # one graph: the scores, the loss
                    with autograd.record():
                        ls = [step(*t) for t in zip(*triples, *weights)]
                    objectives = ls
                else:
                    ls, objectives = loss_of_batch(
                        net, loss, triples, weights,
                        hooks.penalty if hooks.penalizes else None)
                [l.backward(retain_graph=False) for l in objectives]
                batch_loss = sum([l.asnumpy() for l in ls])
                if cluster is not None:
                    batch_loss = cluster.sum(batch_loss)
                if not numpy.isfinite(batch_loss).all():
                    raise NonFiniteLossError(
                        f'epoch {epoch + 1}, batch {i + 1}: the loss is '
                        f'{float(batch_loss.sum())}; training stopped '
                        f'before this update')
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
            train_seconds += time.perf_counter() - tic
            examples += int(metric[1])
            check_updated(net, epoch + 1, num_batches)
            check_stop()  # after the batches, before evaluating
            row = {'epoch': epoch + 1, 'loss': metric[0] / metric[1]}
            with autograd.predict_mode(), hooks.weights():
                if hooks.has_weights:  # the weights evaluated and saved
                    check_updated(net, epoch + 1, num_batches)
                if (epoch + 1) % eval_step == 0 and reporter:
                    tic = time.perf_counter()
                    try:
                        metrics = Metrics.of(evaluator(
                            net, test_iter, test_seq_iter, candidates,
                            num_users, num_items, devices),
                            protocol.cutoff())
                    except NonFiniteModelError as err:
                        raise NonFiniteModelError(
                            f'epoch {epoch + 1}, evaluation: {err}') from None
                    eval_seconds += time.perf_counter() - tic
                    row.update(metrics)
                    hooks.on_evaluate(epoch + 1, metrics)
            history.append(row)
            hooks.on_epoch_end(epoch + 1, history)
            check_stop()  # between epochs, after the epoch's save
    finally:  # e.g. the progress bar closes: a stop line gets its own
        hooks.on_train_end()
    if protocol.cumulative_timer:  # the chapter's figure
        examples_per_sec = (metric[2] * (num_epochs - start_epoch)
                            / timer.sum())
    else:
        examples_per_sec = examples / timer.sum()
    if reporter:
        k = getattr(metrics, 'k', None)
        print(f'train loss {metric[0] / metric[1]:.3f}, ' + (', '.join(
            f'test {protocol.label(m, k)} {float(v):.3f}'
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


def compiled_objective(protocol, net, loss, values):
    """The compiled graph a batch like `values` trains through, or None
    for the chapter's operator-by-operator calls.

    Corrected protocol: `losses.PairwiseObjective`, one call of the net
    for positives and negatives. Book protocol: `losses.ChapterObjective`,
    the chapter's two calls in one graph, equal bit for bit; only for a
    hybridized net (``--reference`` runs the chapter's code as printed),
    the chapter's losses, and its batches (one negative each, no
    weights).
    """
    if protocol.fused_step:
        return (fused_objective(net, loss, values[2])
                if PairwiseObjective.supports(loss) else None)
    if not (getattr(net, '_active', False)  # hybridized
            and ChapterObjective.supports(loss)
            and len(values) == 3 and values[2].ndim == 1):
        return None
    step = ChapterObjective(net, loss)
    step.hybridize(static_alloc=True, static_shape=True)
    return step


def fused_objective(net, loss, negatives):
    """`losses.PairwiseObjective` for batches whose negatives look like
    `negatives`, compiled with static memory and shapes."""
    num_neg = 1 if negatives.ndim == 1 else negatives.shape[1]
    step = PairwiseObjective(net, loss, num_neg)
    step.hybridize(static_alloc=True, static_shape=True)
    return step


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
