"""Progress bars on stderr, and whether we run inside a notebook."""
import sys

from tqdm.auto import tqdm


def in_notebook():
    """True inside a Jupyter kernel, where d2l's Animator can draw."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and 'IPKernelApp' in getattr(shell, 'config',
                                                          {})


def bar(iterable=None, enabled=True, **kwargs):
    """A tqdm bar on stderr; disabled, it iterates and ignores updates."""
    return tqdm(iterable, disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, **kwargs)
