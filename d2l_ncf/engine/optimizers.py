"""The gluon optimizers, as names: which exist, which cannot train NeuMF,
and which update a row-sparse gradient lazily. Plain data, so that
checking a setting needs no MXNet.
"""
import sys

# Gluon optimizers that cannot train NeuMF, and why.
CANNOT_TRAIN = {
    'groupadagrad': 'MXNet\'s GroupAdaGrad updates 2-D weights only; '
                    'NeuMF\'s dense layers have 1-D biases',
    'test': 'MXNet\'s Test optimizer adds the gradient (it climbs the '
            'loss); it exists to test MXNet, not to train',
}

# MXNet 1.9.1's optimizers (`mx.optimizer.Optimizer.opt_registry`), so
# that checking --optimizer needs no MXNet; one registered later is
# looked up there (tests/cli/test_cli.py checks the list against MXNet's).
MXNET_OPTIMIZERS = (
    'adadelta', 'adagrad', 'adam', 'adamax', 'ccsgd', 'dcasgd', 'ftml',
    'ftrl', 'groupadagrad', 'lamb', 'lars', 'lbsgd', 'nadam', 'nag',
    'rmsprop', 'sgd', 'sgld', 'signum', 'test')
# Gluon optimizers whose MXNet update of a row-sparse gradient is lazy
# (`sparse`): rows the gradient lacks keep their weight and state
# (checked by tests/engine/test_sparse.py). Adam's is the default
# (lazy_update=True). Of the others, some move every row (rmsprop, ftrl,
# nadam, ...: they densify the gradient or decay every row, which is what
# --sparse exists to avoid) and adagrad fails on it.
LAZY_OPTIMIZERS = ('adam', 'sgd', 'nag')


def is_optimizer(name):
    """Whether MXNet has an optimizer `name`: one registered after
    MXNet 1.9.1's own needs MXNet imported already."""
    if name.lower() in MXNET_OPTIMIZERS:
        return True
    mx = sys.modules.get('mxnet')
    return mx is not None and (
        name.lower() in mx.optimizer.Optimizer.opt_registry)
