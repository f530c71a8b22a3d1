"""The chapter's pairwise training loop, ported as printed.

It knows nothing about NeuMF: any net taking ``(users, items)`` works.
Its printed figures keep the chapter's defects (README.md explains them):
the loss accumulates across batches and the timer is never restarted.
Beside the printed lines it returns what a run needs to record: a row per
epoch, and wall-clock training and evaluation seconds measured apart.
"""
import time

from d2l import mxnet as d2l
from mxnet import autograd, gluon

from .progress import bar, in_notebook


def train_ranking(net, train_iter, test_iter, loss, trainer, test_seq_iter,
                  num_users, num_items, num_epochs, devices, evaluator,
                  candidates, eval_step=1, *, progress=False, plot='auto'):
    """Train ``net`` with a pairwise loss; evaluate every ``eval_step``.

    Prints the chapter's two lines. ``progress`` shows a bar on stderr;
    ``plot`` draws d2l's Animator (``'auto'``: only inside a notebook).
    Returns a dict: ``history`` (a row per epoch), the final ``loss``,
    ``hit_rate``, ``auc``, the printed ``examples_per_sec``, and the
    measured ``train_seconds`` and ``eval_seconds``.
    """
    timer, hit_rate, auc = d2l.Timer(), 0, 0
    if plot == 'auto':
        plot = in_notebook()
    animator = d2l.Animator(
        xlabel='epoch', xlim=[1, num_epochs], ylim=[0, 1],
        legend=['test hit rate', 'test AUC']) if plot else None
    history, train_seconds, eval_seconds = [], 0.0, 0.0
    batches = bar(total=num_epochs * len(train_iter), enabled=progress,
                  desc='train', unit='batch')
    for epoch in range(num_epochs):
        metric, l = d2l.Accumulator(3), 0.
        tic = time.perf_counter()
        for i, values in enumerate(train_iter):
            input_data = []
            for v in values:
                input_data.append(gluon.utils.split_and_load(v, devices))
            with autograd.record():
                p_pos = [net(*t) for t in zip(*input_data[:-1])]
                p_neg = [net(*t) for t in zip(*input_data[:-2],
                                              input_data[-1])]
                ls = [loss(p, n) for p, n in zip(p_pos, p_neg)]
            [l.backward(retain_graph=False) for l in ls]
            l += sum([l.asnumpy() for l in ls]).mean() / len(devices)
            trainer.step(values[0].shape[0])
            metric.add(l, values[0].shape[0], values[0].size)
            timer.stop()
            batches.update()
        train_seconds += time.perf_counter() - tic
        row = {'epoch': epoch + 1, 'loss': metric[0] / metric[1]}
        batches.set_postfix(epoch=epoch + 1, loss=f'{row["loss"]:.3f}')
        with autograd.predict_mode():
            if (epoch + 1) % eval_step == 0:
                tic = time.perf_counter()
                hit_rate, auc = evaluator(net, test_iter, test_seq_iter,
                                          candidates, num_users, num_items,
                                          devices)
                eval_seconds += time.perf_counter() - tic
                row.update(hit_rate=float(hit_rate), auc=float(auc))
                if animator is not None:
                    animator.add(epoch + 1, (hit_rate, auc))
        history.append(row)
    batches.close()
    examples_per_sec = metric[2] * num_epochs / timer.sum()
    print(f'train loss {metric[0] / metric[1]:.3f}, '
          f'test hit rate {float(hit_rate):.3f}, test AUC {float(auc):.3f}')
    print(f'{examples_per_sec:.1f} examples/sec '
          f'on {str(devices)}')
    return {'history': history, 'loss': metric[0] / metric[1],
            'hit_rate': float(hit_rate), 'auc': float(auc),
            'examples_per_sec': examples_per_sec,
            'train_seconds': train_seconds, 'eval_seconds': eval_seconds}
