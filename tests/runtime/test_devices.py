import mxnet as mx
import pytest

from d2l_ncf.runtime import devices as dev
from d2l_ncf import parse_devices, try_all_gpus


def test_try_all_gpus_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(mx.context, 'num_gpus', lambda: 0)
    assert try_all_gpus() == [mx.cpu()]


def test_try_all_gpus_lists_gpus(monkeypatch):
    monkeypatch.setattr(mx.context, 'num_gpus', lambda: 2)
    assert try_all_gpus() == [mx.gpu(0), mx.gpu(1)]


@pytest.mark.parametrize('spec, want', [
    ('cpu', [mx.cpu(0)]),
    ('cpu:1', [mx.cpu(0)]),
    ('cpu:2', [mx.cpu(0), mx.cpu(1)]),
    (' CPU:3 ', [mx.cpu(0), mx.cpu(1), mx.cpu(2)]),
])
def test_cpu_specs(spec, want):
    assert parse_devices(spec) == want


def test_gpu_specs(monkeypatch):
    monkeypatch.setattr(mx.context, 'num_gpus', lambda: 2)
    assert parse_devices('gpu') == [mx.gpu(0)]
    assert parse_devices('gpu:0,1') == [mx.gpu(0), mx.gpu(1)]
    assert parse_devices('gpu:1') == [mx.gpu(1)]
    assert parse_devices('all') == [mx.gpu(0), mx.gpu(1)]


def test_missing_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(mx.context, 'num_gpus', lambda: 1)
    with pytest.raises(dev.DeviceError, match=r"gpu \[3\].*has 1 GPU"):
        parse_devices('gpu:3')


@pytest.mark.parametrize('spec, message', [
    ('tpu', 'unknown device spec'),
    ('cpu:0', 'needs N >= 1'),
    ('cpu:x', 'not a whole number'),
    ('gpu:0,0', 'names a GPU twice'),
    ('gpu:-1', 'negative'),
])
def test_bad_specs(spec, message):
    with pytest.raises(dev.DeviceError, match=message):
        parse_devices(spec)
