"""engine/step.py: the corrected protocol's training step (`FastStep`).

It must train as the chapter's calls do (positives, then negatives, then
the loss, then ``trainer.step``): the same losses and parameters up to
float32 summation order, for every loss, number of negatives, weights,
devices and penalty. Its fused update must be ``trainer.step`` bit for
bit (same graph, same optimizer arithmetic), keep the optimizer's state
where the trainer saves it, and stand aside where it is not the same
math. No timing here: benchmarks/bench_step.py measures the speed.
"""
import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon

from d2l_ncf.engine import sparse
from d2l_ncf.engine.sampling import NegativeSampler, TripleBatches
from d2l_ncf.engine.step import FastStep, FlatUpdate, epoch_batches
from d2l_ncf.losses import LOSSES, PairwiseObjective
from d2l_ncf.model import NeuMF, embedding_l2

USERS, ITEMS, BATCH = 9, 20, 8


def make(devices, optimizer='adam', params=None, seed=3, use_sparse=False):
    """A NeuMF on `devices` and its trainer, the same for the same seed."""
    mx.random.seed(seed)
    net = NeuMF(4, USERS, ITEMS, [8, 4], sigmoid_output=False)
    if use_sparse:
        sparse.use_row_sparse_grads(net)
    net.initialize(init=mx.init.Normal(0.3), ctx=devices)
    net.hybridize()
    net(mx.np.array([0, 1], ctx=devices[0]),  # deferred initialisation:
        mx.np.array([2, 3], ctx=devices[0]))  # with this seed, now
    params = params or {'learning_rate': 0.02, 'wd': 1e-3}
    trainer = (sparse.make_trainer(net, optimizer, params, 'device')
               if use_sparse else
               gluon.Trainer(net.collect_params(), optimizer, params))
    return net, trainer


def batches(num_neg, weighted, count=3, seed=0):
    rng = numpy.random.RandomState(seed)
    shape = (BATCH,) if num_neg == 1 else (BATCH, num_neg)
    for _ in range(count):
        batch = (rng.randint(0, USERS, BATCH), rng.randint(0, ITEMS, BATCH),
                 rng.randint(0, ITEMS, shape))
        yield batch + ((rng.rand(BATCH) + 0.5).astype('float32'),) \
            if weighted else batch


def chapter_step(net, loss, trainer, devices, values, penalty=None):
    """The chapter's step, as its loop writes it: split over the devices,
    score positives then negatives, the loss, backward, trainer.step.
    Returns the batch's summed loss."""
    parts = [gluon.utils.split_and_load(v, devices) for v in values]
    with autograd.record():
        losses = []
        for users, items, negatives, *weights in zip(*parts):
            positive = net(users, items)
            if negatives.ndim == 1:
                negative = net(users, negatives)
            else:
                k = negatives.shape[1]
                negative = net(users.reshape(-1, 1).repeat(k, axis=1)
                               .reshape(-1), negatives.reshape(-1)
                               ).reshape(-1, k)
            # summed first: BPRLoss keeps a (1, num_neg) row, to which a
            # scalar penalty would be added num_neg times
            l = loss(positive, negative, *weights).sum()
            losses.append(l if penalty is None else
                          (l, l + penalty(net, users, items, negatives)))
    objectives = [l[1] if penalty else l for l in losses]
    for o in objectives:
        o.backward()
    trainer.step(values[0].shape[0])
    return sum(float((l[0] if penalty else l).asnumpy().sum())
               for l in losses)


def parameters(net):
    return [p.data().asnumpy().copy() for p in net.collect_params().values()]


@pytest.mark.parametrize('loss_name,num_neg,weighted', [
    ('bpr', 1, False), ('bpr', 3, False), ('hinge', 1, False),
    ('hinge', 2, False), ('log', 1, False), ('log', 4, False),
    ('log', 4, True)])
@pytest.mark.parametrize('num_devices', [1, 2])
@pytest.mark.parametrize('with_penalty', [False, True])
def test_fast_step_trains_as_the_chapters_calls(loss_name, num_neg,
                                                weighted, num_devices,
                                                with_penalty):
    # SGD with momentum and decay: Adam would turn a gradient that
    # cancels to 0 in one order and to 1e-9 in the other into steps of
    # the learning rate's size (the bit-for-bit test below covers Adam)
    devices = [mx.cpu(i) for i in range(num_devices)]
    penalty = embedding_l2(0.01) if with_penalty else None
    seen = []
    for fast in (False, True):
        net, trainer = make(devices, 'sgd', {'learning_rate': 0.1,
                                             'momentum': 0.9, 'wd': 1e-3})
        loss = LOSSES[loss_name]()
        step = FastStep(net, loss, trainer, devices, penalty)
        losses = []
        for values in batches(num_neg, weighted):
            if fast:
                total = step(values)
                assert total.shape == () and total.ctx == devices[0]
                losses.append(float(total))
            else:
                losses.append(chapter_step(net, loss, trainer, devices,
                                           values, penalty))
        seen.append((losses, parameters(net)))
    (chapter_losses, chapter_params), (fast_losses, fast_params) = seen
    assert fast_losses == pytest.approx(chapter_losses, rel=1e-5)
    assert chapter_losses[0] != chapter_losses[-1]  # it trained
    for a, b in zip(chapter_params, fast_params):
        assert numpy.allclose(a, b, rtol=1e-4, atol=1e-5)


def graph_and_trainer_step(net, loss, trainer, values, scale=1):
    """The same compiled graph as FastStep's, then trainer.step."""
    graph = PairwiseObjective(net, loss, 1 if values[2].ndim == 1
                              else values[2].shape[1])
    graph.hybridize(static_alloc=True, static_shape=True)
    arrays = [mx.np.array(v, dtype=v.dtype) for v in values]
    with autograd.record():
        total = graph(*arrays)
    total.backward()
    trainer.step(values[0].shape[0] * scale)
    return float(total)


@pytest.mark.parametrize('optimizer,params', [
    ('adam', {'learning_rate': 0.05, 'wd': 1e-3}),
    ('adam', {'learning_rate': 0.01, 'wd': 1e-5, 'beta1': 0.8,
              'clip_gradient': 0.5}),
    ('sgd', {'learning_rate': 0.1, 'wd': 1e-3}),
    ('sgd', {'learning_rate': 0.1, 'wd': 1e-3, 'momentum': 0.9})])
def test_the_fused_update_is_trainer_step_bit_for_bit(optimizer, params):
    # Adam with L2 decay (the chapter's) stays that: the decay enters the
    # moments, as gluon's Adam does, not decoupled as in AdamW
    devices = [mx.cpu()]
    seen = []
    for fast in (False, True):
        net, trainer = make(devices, optimizer, params)
        step = FastStep(net, LOSSES['bpr'](), trainer, devices)
        got = []
        for values in batches(1, False, count=5):
            got.append(float(step(values)) if fast else
                       graph_and_trainer_step(net, LOSSES['bpr'](), trainer,
                                              values))
        if fast:
            assert isinstance(step.update, FlatUpdate)
        seen.append((got, parameters(net)))
    assert seen[0][0] == seen[1][0]
    for a, b in zip(seen[0][1], seen[1][1]):
        assert (a == b).all()


def test_fused_adam_equals_gluons_adam_with_weight_decay():
    # the update alone, on gradients set by hand: no graph involved
    rng = numpy.random.RandomState(0)
    nets = [make([mx.cpu()], 'adam', {'learning_rate': 0.1, 'wd': 0.05})
            for _ in range(2)]
    update = FlatUpdate.for_trainer(nets[1][1], [mx.cpu()])
    assert update is not None and update.ready(nets[1][1])
    for _ in range(4):
        grads = [rng.randn(*p.shape).astype('float32')
                 for p in nets[0][0].collect_params().values()]
        for (net, trainer), fused in zip(nets, (False, True)):
            with autograd.record():  # gradients `grads`, fresh
                objective = sum((p.data() * mx.np.array(g)).sum() for p, g
                                in zip(net.collect_params().values(), grads))
            objective.backward()
            if fused:
                update(trainer, 16)
            else:
                trainer.step(16)
    for a, b in zip(parameters(nets[0][0]), parameters(nets[1][0])):
        assert (a == b).all()


def test_the_trainer_saves_and_loads_the_fused_updates_state(tmp_path):
    # a run checkpointed after fused steps resumes as if trainer.step had
    # run: the moments and the step count are the trainer's
    devices = [mx.cpu()]
    all_batches = list(batches(1, False, count=6))
    results = []
    for fast in (False, True):
        net, trainer = make(devices)
        step = FastStep(net, LOSSES['bpr'](), trainer, devices)
        for values in all_batches[:3]:
            if fast:
                step(values)
            else:
                graph_and_trainer_step(net, LOSSES['bpr'](), trainer, values)
        trainer.save_states(str(tmp_path / f'{fast}.states'))
        net.save_parameters(str(tmp_path / f'{fast}.params'))
        results.append(parameters(net))
    # both resume, with a fresh trainer, through a FastStep
    for fast in (False, True):
        net, trainer = make(devices)
        net.load_parameters(str(tmp_path / f'{fast}.params'))
        trainer.load_states(str(tmp_path / f'{fast}.states'))
        step = FastStep(net, LOSSES['bpr'](), trainer, devices)
        for values in all_batches[3:]:
            step(values)
        results.append(parameters(net))
    for a, b in zip(results[0], results[1]):
        assert (a == b).all()
    for a, b in zip(results[2], results[3]):
        assert (a == b).all()
    # and loading states into a running FastStep's trainer takes effect
    net, trainer = make(devices)
    step = FastStep(net, LOSSES['bpr'](), trainer, devices)
    step(all_batches[0])
    net.load_parameters(str(tmp_path / 'False.params'))
    trainer.load_states(str(tmp_path / 'False.states'))
    for values in all_batches[3:]:
        step(values)
    for a, b in zip(results[2], parameters(net)):
        assert (a == b).all()


def test_the_fused_update_stands_aside_where_it_is_not_the_same_math():
    values = next(batches(1, False))
    cases = {
        'two devices': make([mx.cpu(0), mx.cpu(1)]) + (
            [mx.cpu(0), mx.cpu(1)],),
        'rmsprop': make([mx.cpu()], 'rmsprop') + ([mx.cpu()],),
        '--sparse': make([mx.cpu()], use_sparse=True) + ([mx.cpu()],),
    }
    net, _ = make([mx.cpu()])  # a kvstore of its own (as `launch` gives)
    cases['a kvstore'] = (net, gluon.Trainer(
        net.collect_params(), 'adam', {'learning_rate': 0.02},
        kvstore=mx.kv.create('local')), [mx.cpu()])
    for name, (net, trainer, devices) in cases.items():
        before = parameters(net)
        step = FastStep(net, LOSSES['bpr'](), trainer, devices)
        step(values)
        assert step.update is False, name
        assert any((a != b).any() for a, b in zip(before, parameters(net)))
    # a decay multiplier per parameter: not one update for all
    net, trainer = make([mx.cpu()])
    net.collect_params()[next(iter(net.collect_params()))].wd_mult = 0.0
    step = FastStep(net, LOSSES['bpr'](), trainer, [mx.cpu()])
    step(values)
    assert step.update is False


def test_parameters_initialised_again_are_trained_through_new_buffers():
    devices = [mx.cpu()]
    net, trainer = make(devices, 'sgd', {'learning_rate': 0.1})
    step = FastStep(net, LOSSES['bpr'](), trainer, devices)
    values = list(batches(1, False, count=2))
    step(values[0])
    net.initialize(init=mx.init.Normal(0.3), force_reinit=True)
    before = parameters(net)
    step(values[1])
    grads = [p.grad().asnumpy() for p in net.collect_params().values()]
    assert all(abs(g).sum() > 0 for g in grads)
    moved = [(b != a).any() for b, a in zip(before, parameters(net))]
    assert all(moved)


def test_epoch_batches_are_the_batches_on_the_device():
    rng = numpy.random.RandomState(0)
    users = rng.randint(0, USERS, 50)
    items = rng.randint(0, ITEMS, 50)
    candidates = {u: sorted(set(items[users == u].tolist()))
                  for u in range(USERS)}

    def stream(num_neg, weights=None):
        sampler = NegativeSampler(candidates, USERS, ITEMS)
        return TripleBatches(users, items, sampler, 16,
                             numpy.random.RandomState(5), num_neg, weights)

    for num_neg, weights in ((1, None), (3, rng.rand(50))):
        plain, fast = stream(num_neg, weights), stream(num_neg, weights)
        for _ in range(2):  # two epochs: the rollover too
            expected = list(plain)
            got = epoch_batches(fast, mx.cpu())
            assert len(got) == len(expected) == 3
            for b, e in zip(got, expected):
                assert len(b) == len(e)
                for x, y in zip(b, e):
                    assert isinstance(x, mx.np.ndarray)
                    assert x.dtype == y.dtype and x.ctx == mx.cpu()
                    assert (x.asnumpy() == y).all()
        assert fast.get_state() == plain.get_state()
    assert epoch_batches([], mx.cpu()) == []


@pytest.mark.parametrize('num_devices', [1, 2])
def test_finish_reads_the_epochs_batch_losses_at_once(num_devices):
    # the same floats as reading each batch's loss, in order, so the
    # epoch's loss adds up as the chapter's loop adds it
    devices = [mx.cpu(i) for i in range(num_devices)]
    net, trainer = make(devices)
    step = FastStep(net, LOSSES['log'](), trainer, devices)
    read = [float(step(values)) for values in batches(3, True, count=4)]
    assert step.finish() == read
    assert step.finish() == []
    # a diverging run: finish names the first batch whose loss is not
    # finite (here: the learning rate overflows the weights)
    net, trainer = make(devices, 'sgd', {'learning_rate': 1e38})
    step = FastStep(net, LOSSES['bpr'](), trainer, devices)
    for values in batches(1, False, count=4):
        step(values)
    losses = step.finish()
    assert numpy.isfinite(losses[0])
    assert not numpy.isfinite(losses).all()


def test_epoch_batches_tell_sparse_global_rows_each_batch_in_turn():
    # --sparse under dist_sync pulls the rows of the batch being trained
    rng = numpy.random.RandomState(1)
    users, items = rng.randint(0, USERS, 40), rng.randint(0, ITEMS, 40)
    sampler = NegativeSampler({u: [] for u in range(USERS)}, USERS, ITEMS)
    rows = sparse.GlobalRows(TripleBatches(users, items, sampler, 8,
                                           numpy.random.RandomState(2)))
    for batch in epoch_batches(rows, mx.cpu()):
        assert (rows.last[0] == batch[0].asnumpy()).all()
        assert (rows.rows((0,)) == numpy.unique(batch[0].asnumpy())).all()


def test_a_fast_step_loop_gives_the_corrected_reference_losses(tmp_path):
    # tests/reference/synthetic_corrected_seed0.json, made by the loop of
    # per-batch reads and trainer.step: a loop of FastStep over
    # epoch_batches, its losses read once an epoch, gives the same epoch
    # losses bit for bit (its settings, built here as `build` does)
    import json
    import os
    import random
    from synthetic import make_ratings, write_udata
    from d2l_ncf.data import load_chapter_data
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(here, 'reference',
                           'synthetic_corrected_seed0.json')) as f:
        reference = json.load(f)
    data = load_chapter_data(write_udata(tmp_path / 'data', make_ratings()))
    random.seed(0)
    numpy.random.seed(0)
    mx.random.seed(0)
    batches = TripleBatches(
        data.users_train, data.items_train,
        NegativeSampler(data.candidates, data.num_users, data.num_items),
        32, numpy.random.RandomState(0))
    net = NeuMF(4, data.num_users, data.num_items, [4, 4],
                sigmoid_output=False)
    net.initialize(ctx=mx.cpu(), init=mx.init.Normal(0.01))
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01, 'wd': 1e-5})
    step = FastStep(net, LOSSES['bpr'](), trainer, [mx.cpu()])
    losses = []
    for _ in reference['history']:
        epoch = epoch_batches(batches, mx.cpu())
        for values in epoch:
            step(values)
        total = 0.0
        for loss in step.finish():
            total += loss
        losses.append(total / (len(epoch) * 32))
    assert isinstance(step.update, FlatUpdate)
    assert losses == [row['loss'] for row in reference['history']]


def test_scale_divides_the_gradient_by_the_global_batch():
    # dist_sync: a step sums `scale` workers' examples, so the loop gave
    # trainer.step B * scale; FastStep(scale=...) updates as that does
    devices = [mx.cpu()]
    seen = []
    for fast in (False, True):
        net, trainer = make(devices)
        step = FastStep(net, LOSSES['bpr'](), trainer, devices, scale=3)
        for values in batches(1, False):
            if fast:
                step(values)
            else:
                graph_and_trainer_step(net, LOSSES['bpr'](), trainer,
                                       values, scale=3)
        if fast:
            assert isinstance(step.update, FlatUpdate)
        assert trainer._optimizer.rescale_grad == 1 / (3 * BATCH)
        seen.append(parameters(net))
    for a, b in zip(*seen):
        assert (a == b).all()
