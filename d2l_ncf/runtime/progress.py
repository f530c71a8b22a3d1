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
    """A tqdm bar on stderr, or the bare iterable when disabled."""
    if not enabled:
        return _NoBar(iterable)
    kwargs.setdefault('file', sys.stderr)
    kwargs.setdefault('dynamic_ncols', True)
    return tqdm(iterable, **kwargs)


class _NoBar:
    """Stands in for a tqdm bar: iterates, and ignores updates."""
    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, *args, **kwargs):
        pass

    def update(self, n=1):
        pass

    def close(self):
        pass
