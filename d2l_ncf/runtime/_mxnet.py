"""Import MXNet once, with an error that says how to install it, after
the numerics are fixed (`numerics.configure`)."""
from . import numerics

numerics.announce()  # applies the mode in force first, if none yet


class MXNetMissingError(ImportError):
    """MXNet is not installed; the message says how to install it."""


try:
    import mxnet as mx  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised in a subprocess
    raise MXNetMissingError(
        "d2l_ncf needs MXNet 1.9.1, which is not installed. Install it "
        "with the package's extras: pip install 'd2l_ncf[cpu]' on a "
        "machine without a GPU, or pip install 'd2l_ncf[gpu]' (CUDA 11.2) "
        "on a machine with NVIDIA GPUs. Never install both: they provide "
        "the same `mxnet` module.") from err

from mxnet import npx

# The chapter's code uses MXNet's NumPy interface (`mxnet.np`).
npx.set_np()
