"""An exponential moving average of a network's weights (``--ema``, ours).

Rankings from one batch to the next are noisy; the average of the weights
over about the last 1 / (1 - decay) batches is a steadier model than any
single step's. Evaluation scores the average, training goes on from the
live weights.
"""
import contextlib

import numpy
from ..runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from mxnet import np


class WeightAverage:
    """``shadow = decay * shadow + (1 - decay) * weights`` after every
    batch, starting from the weights after the first."""

    def __init__(self, net, decay):
        self.params = list(net.collect_params().values())
        self.decay, self.shadow = decay, None

    def update(self):
        if self.shadow is None:
            self.shadow = [p.data().copy() for p in self.params]
            return
        for s, p in zip(self.shadow, self.params):
            s[:] = self.decay * s + (1 - self.decay) * p.data()

    @contextlib.contextmanager
    def applied(self):
        """Within the block, the net holds the averaged weights."""
        if self.shadow is None:
            yield
            return
        live = [p.data().copy() for p in self.params]
        for s, p in zip(self.shadow, self.params):
            p.set_data(s)
        try:
            yield
        finally:
            for v, p in zip(live, self.params):
                p.set_data(v)

    def state(self):
        """The averaged weights as NumPy arrays, by parameter position."""
        return {f'p{j}': s.asnumpy() for j, s in enumerate(self.shadow or [])}

    def load(self, state):
        if state:
            ctx = self.params[0].data().ctx
            self.shadow = [np.array(state[f'p{j}'], ctx=ctx,
                                    dtype=numpy.float32)
                           for j in range(len(self.params))]
