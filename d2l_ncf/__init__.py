"""Neural Collaborative Filtering for Personalized Ranking (d2l 16.6).

The chapter's code, ported into a package with the same names and
signatures, so the section's cells run with only the import changed::

    from d2l_ncf import (NeuMF, PRDataset, hit_and_auc, evaluate_ranking,
                         train_ranking, BPRLoss, try_all_gpus)

Importing the package fixes MXNet's CPU arithmetic (`numerics`) and
nothing else: each name below is imported from its module, and so
MXNet and d2l, when first used. ``d2l-ncf --help`` and usage errors
thus never wait for them.
"""
import importlib
import importlib.util
import sys

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

# Modules that moved into sub-packages (issue 24), and where to: code
# written against the old flat layout (``from d2l_ncf.sampling import
# ...``, as the notebooks do) gets the same module under its old name.
_MOVED = dict(
    [(m, 'runtime.' + m) for m in ('numerics', 'devices', 'stopping',
                                   'pipes', 'locking', 'progress')]
    + [(m, 'datasets.' + m) for m in ('movielens', 'interactions')]
    + [(m, 'engine.' + m) for m in ('sampling', 'scoring', 'sparse',
                                    'averaging', 'distributed')]
    + [(m, 'runs.' + m) for m in ('config', 'checks', 'builders', 'run',
                                  'records', 'checkpoint', 'compare',
                                  'exercises', 'plotting', 'ablation',
                                  'ablation_report')]
    + [('launch', 'cli.launch')])

__all__ = [
    'NeuMF', 'PRDataset', 'hit_and_auc', 'evaluate_ranking',
    'train_ranking', 'BPRLoss', 'HingeLossbRec', 'try_all_gpus',
    'parse_devices', 'read_data_ml100k', 'split_data_ml100k',
    'load_data_ml100k', 'load_chapter_data', 'DataNotFoundError',
    'TrainConfig', 'seed_everything', 'load_dataset', 'DataFormatError',
    'CheckpointError', 'recommend', 'train', 'run_quietly', 'build',
    'Callback', 'Metrics', 'Popularity', 'MF', 'GMF', 'MLP',
    'load_pretrained', 'run_ablation',
]


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


class _MovedModules:
    """An import finder and loader for the old names in `_MOVED`: the
    module at its new place, under both names (not a copy)."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        package, _, name = fullname.rpartition('.')
        if package != __name__ or name not in _MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _MovedModules)

    @staticmethod
    def create_module(spec):
        module = importlib.import_module(
            f'{__name__}.{_MOVED[spec.name.rpartition(".")[2]]}')
        spec.loader_state = module.__spec__  # import overwrites it
        return module

    @staticmethod
    def exec_module(module):
        module.__spec__ = module.__spec__.loader_state


sys.meta_path.append(_MovedModules)
