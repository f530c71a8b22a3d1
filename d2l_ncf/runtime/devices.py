"""Which MXNet contexts to train on, from a short text spec: ``all``
(every GPU, else the CPU), ``cpu``, ``cpu:N`` (N CPU contexts: the
chapter's multi-device path on one CPU), ``gpu`` (= ``gpu:0``), ``gpu:0,1``.
"""
from . import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
import mxnet as mx


class DeviceError(ValueError):
    """A device spec that names no usable device."""


def try_all_gpus():
    """All GPUs, or ``[cpu()]`` if there is none (d2l 1.0.3's returns
    ``[]`` then, though its docstring promises ``[cpu()]``)."""
    return [mx.gpu(i) for i in range(mx.context.num_gpus())] or [mx.cpu()]


def parse_devices(spec='all'):
    """Contexts for a spec such as ``'cpu:2'`` or ``'gpu:0,1'`` (a list
    of contexts is returned as it is)."""
    if not isinstance(spec, str):
        return list(spec)
    kind, _, rest = spec.strip().lower().partition(':')
    if kind == 'all' and not rest:
        return try_all_gpus()
    if kind not in ('cpu', 'gpu'):
        raise DeviceError(
            f"unknown device spec {spec!r}: expected 'all', 'cpu', "
            f"'cpu:N', 'gpu' or 'gpu:I,J,...'")
    try:
        default = '1' if kind == 'cpu' else '0'
        numbers = [int(n) for n in (rest or default).split(',')]
    except ValueError:
        raise DeviceError(f'device spec {spec!r}: {rest!r} is not a whole '
                          f'number') from None
    if min(numbers) < 0:
        raise DeviceError(f'device spec {spec!r}: {min(numbers)} is '
                          f'negative')
    if kind == 'cpu':
        if len(numbers) != 1 or numbers[0] < 1:
            raise DeviceError(f"device spec {spec!r}: 'cpu:N' needs N >= 1")
        return [mx.cpu(i) for i in range(numbers[0])]
    if len(set(numbers)) != len(numbers):
        raise DeviceError(f'device spec {spec!r} names a GPU twice')
    available = mx.context.num_gpus()
    missing = [i for i in numbers if i >= available]
    if missing:
        raise DeviceError(
            f'device spec {spec!r} asks for gpu {missing} but this machine '
            f"has {available} GPU(s) visible to MXNet; use 'cpu', 'cpu:N' "
            f"or 'all'")
    return [mx.gpu(i) for i in numbers]
