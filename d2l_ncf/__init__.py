"""Neural Collaborative Filtering for Personalized Ranking (d2l 16.6).

The chapter's code, ported into a package with the same names and
signatures, so the section's cells run with only the import changed::

    from d2l_ncf import (NeuMF, PRDataset, hit_and_auc, evaluate_ranking,
                         train_ranking, BPRLoss, try_all_gpus)
"""
from . import numerics
numerics.configure()  # before MXNet starts: it fixes the CPU arithmetic
from . import _mxnet  # noqa: E402,F401  (a clear error without MXNet)
from .builders import build, seed_everything
from .callbacks import Callback
from .config import TrainConfig
from .checkpoint import CheckpointError
from .data import (PRDataset, load_chapter_data, load_data_ml100k,
                   load_dataset, read_data_ml100k, split_data_ml100k)
from .movielens import DataNotFoundError
from .reader import DataFormatError
from .devices import parse_devices, try_all_gpus
from .losses import BPRLoss, HingeLossbRec
from .evaluation import evaluate_ranking
from .metrics import Metrics, hit_and_auc
from .model import NeuMF
from .recommend import recommend
from .training import train_ranking
from .run import run_quietly, train

__version__ = '0.1.0'

__all__ = [
    'NeuMF', 'PRDataset', 'hit_and_auc', 'evaluate_ranking',
    'train_ranking', 'BPRLoss', 'HingeLossbRec', 'try_all_gpus',
    'parse_devices', 'read_data_ml100k', 'split_data_ml100k',
    'load_data_ml100k', 'load_chapter_data', 'DataNotFoundError',
    'TrainConfig', 'seed_everything', 'load_dataset', 'DataFormatError',
    'CheckpointError', 'recommend', 'train', 'run_quietly', 'build',
    'Callback', 'Metrics',
]
