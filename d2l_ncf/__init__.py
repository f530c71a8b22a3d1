"""Neural Collaborative Filtering for Personalized Ranking (d2l 16.6).

The chapter's code, ported into a package with the same names and
signatures, so the section's cells run with only the import changed::

    from d2l_ncf import (NeuMF, PRDataset, hit_and_auc, evaluate_ranking,
                         train_ranking, BPRLoss, try_all_gpus)

Importing the package fixes MXNet's CPU arithmetic (`runtime.numerics`;
the command line's ``--numerics`` may still change it) and nothing else:
each name below is imported from its module, and so MXNet and d2l, when
first used. ``d2l-ncf --help`` and usage errors thus never wait for them.
"""
import importlib

from .runtime import numerics
numerics.configure()  # before MXNet starts: it fixes the CPU arithmetic

__version__ = '0.1.0'

# Each public name and the module it comes from.
_EXPORTS = {
    'build': 'runs.builders', 'seed_everything': 'runs.builders',
    'Callback': 'callbacks', 'TrainConfig': 'runs.config',
    'CheckpointError': 'runs.checkpoint',
    'PRDataset': 'chapter', 'load_chapter_data': 'data',
    'load_data_ml100k': 'data', 'load_dataset': 'data',
    'read_data_ml100k': 'data', 'split_data_ml100k': 'data',
    'DataNotFoundError': 'datasets.movielens',
    'DataFormatError': 'datasets.formats',
    'parse_devices': 'runtime.devices', 'try_all_gpus': 'runtime.devices',
    'BPRLoss': 'losses', 'HingeLossbRec': 'losses',
    'evaluate_ranking': 'chapter', 'Metrics': 'metrics',
    'RankingEvaluator': 'evaluation',
    'hit_and_auc': 'chapter', 'NeuMF': 'model',
    'recommend': 'runs.recommending', 'train_ranking': 'chapter',
    'run_quietly': 'runs.run', 'train': 'runs.run',
    'Popularity': 'baselines', 'MF': 'baselines', 'GMF': 'baselines',
    'MLP': 'baselines', 'load_pretrained': 'baselines',
    'run_ablation': 'runs.ablation',
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    """A public name, imported from its module on first use (PEP 562);
    else a submodule, as ``import d2l_ncf.X`` would give it."""
    if name.startswith('__'):  # e.g. a tool probing for __wrapped__
        raise AttributeError(
            f'module {__name__!r} has no attribute {name!r}')
    if name in _EXPORTS:
        value = getattr(importlib.import_module(
            f'{__name__}.{_EXPORTS[name]}'), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f'{__name__}.{name}')
    except ModuleNotFoundError as err:
        if err.name != f'{__name__}.{name}':
            raise
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))

