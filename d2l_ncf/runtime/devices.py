"""Which MXNet contexts to train on, from a short text spec.

Specs: ``all`` (every GPU, else the CPU), ``cpu``, ``cpu:N`` (N CPU
contexts, ``[cpu(0), ..., cpu(N-1)]``: the chapter's multi-device path on
one CPU), ``gpu`` (= ``gpu:0``) and ``gpu:0,1``.
"""
from . import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
import mxnet as mx


class DeviceError(ValueError):
    """A device spec that names no usable device."""


def try_all_gpus():
    """Return all available GPUs, or ``[cpu()]`` if there is none.

    d2l 1.0.3's version returns ``[]`` on a machine without a GPU (its
    docstring promises ``[cpu()]``), and the chapter then crashes.
    """
    num_gpus = mx.context.num_gpus()
    return [mx.gpu(i) for i in range(num_gpus)] or [mx.cpu()]


def parse_devices(spec='all'):
    """Turn a spec such as ``'cpu:2'`` or ``'gpu:0,1'`` into contexts."""
    if not isinstance(spec, str):
        return list(spec)  # already a list of contexts
    text = spec.strip().lower()
    if text == 'all':
        return try_all_gpus()
    kind, _, rest = text.partition(':')
    if kind == 'cpu':
        count = _whole_number(rest or '1', spec)
        if count < 1:
            raise DeviceError(f"device spec {spec!r}: 'cpu:N' needs N >= 1")
        return [mx.cpu(i) for i in range(count)]
    if kind == 'gpu':
        ids = [_whole_number(p, spec) for p in (rest or '0').split(',')]
        if len(set(ids)) != len(ids):
            raise DeviceError(f'device spec {spec!r} names a GPU twice')
        available = mx.context.num_gpus()
        missing = [i for i in ids if i >= available]
        if missing:
            raise DeviceError(
                f'device spec {spec!r} asks for gpu {missing} but this '
                f'machine has {available} GPU(s) visible to MXNet; use '
                f"'cpu', 'cpu:N' or 'all'")
        return [mx.gpu(i) for i in ids]
    raise DeviceError(
        f"unknown device spec {spec!r}: expected 'all', 'cpu', 'cpu:N', "
        f"'gpu' or 'gpu:I,J,...'")


def _whole_number(text, spec):
    try:
        value = int(text)
    except ValueError:
        raise DeviceError(
            f'device spec {spec!r}: {text!r} is not a whole number') from None
    if value < 0:
        raise DeviceError(f'device spec {spec!r}: {value} is negative')
    return value
