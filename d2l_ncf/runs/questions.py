"""The section's four exercises as settings: each one's question, and
the fields one ``--values`` entry sets; and the ablation's recipes, the
settings it fixes, and the config of each of its models. Data and checks
without MXNet, so that the command line checks them before it loads
(`exercises` and `ablation` run them).
"""
import dataclasses
import sys

from ..protocol import CORRECTED
from .config import MODELS, TrainConfig, UsageError, option

# One recipe per family over TrainConfig's defaults (the chapter's: BPR,
# one negative, Adam, batch 1024, 10 factors, MLP 10 10 10), chosen on a
# validation item (CHOSEN_BY; docs/results/ablation_search.json has the
# grid). neumf-pre starts from the gmf and mlp of the same seed and
# continues with plain SGD, as the NCF paper does.
RECIPES = {
    'popularity': {},
    'mf': {'lr': 0.01, 'wd': 1e-5, 'num_epochs': 16},
    'gmf': {'lr': 0.01, 'wd': 0.0, 'num_epochs': 15},
    'mlp': {'lr': 0.01, 'wd': 1e-5, 'init_sigma': 0.1, 'num_epochs': 19},
    'neumf': {'lr': 0.01, 'wd': 0.0, 'init_sigma': 0.1, 'num_epochs': 20},
    'neumf-pre': {'optimizer': 'sgd', 'lr': 1.0, 'wd': 0.0,
                  'num_epochs': 15},
}
CHOSEN_BY = ('per family, the settings and epoch with the best '
             'validation Hit@50 (full ranking; then AUC) over a small '
             'grid, seed 0 (experiments/ablation_search.py); the '
             'validation item is each user\'s latest training interaction '
             '(the test interaction removed first)')
# Settings the ablation fixes, and why a typed one is refused.
REFUSED = {
    'protocol': 'the ablation runs the corrected protocol (the book\'s '
                'model learns nothing to compare)',
    'eval': 'the ablation runs both evaluations (--evals chooses)',
    'k': 'each evaluation keeps its cut-off (Hit@50 full, HR@10 sampled)',
    'reference': "the chapter's slow path runs NeuMF only",
    'sparse': '--sparse makes NeuMF\'s embeddings row-sparse only',
    'model': 'the ablation trains the models of --models',
    'eval_step': 'each model is evaluated once, after its last epoch',
    'seed': 'the ablation runs one of each model per seed: use --seeds',
}


# The section's exercises: each one's question, and the config fields one
# --values entry sets, in order, separated by ':' (e.g. adam:0.01:1e-5).
EXERCISES = {
    'factors': ('How does the size of the latent factors matter?',
                ('num_factors',)),
    'hiddens': ('How do the MLP layers (number, width) matter?',
                ('nums_hiddens',)),
    'optim': ('Other optimizers, learning rates and weight decay '
              '(NAME:LR:WD)', ('optimizer', 'lr', 'wd')),
    'loss': ('The hinge loss instead of BPR (or the log loss)', ('loss',)),
}
EXAMPLES = {'num_factors': '8', 'nums_hiddens': '"32 16 8"',
            'optimizer': 'adam', 'lr': '0.01', 'wd': '1e-5', 'loss': 'bpr'}
KINDS = {'num_factors': (int, 'a whole number'), 'lr': (float, 'a number'),
         'wd': (float, 'a number'), 'nums_hiddens': (
             lambda t: tuple(int(x) for x in t.replace(',', ' ').split()),
             'sizes')}


def settings_for(name, values):
    """Each of `values` with the settings it makes, all checked up front:
    a value that is not one is a ValueError saying what was expected."""
    fields = EXERCISES[name][1]
    example = ':'.join(EXAMPLES[f] for f in fields)
    settings = []
    for value in values:
        parts = value.split(':')
        if len(parts) != len(fields):
            raise ValueError(f'{name} value {value!r}: expected '
                             f'{":".join(f.upper() for f in fields)} such '
                             f'as {example}')
        change = {}
        for field, part in zip(fields, parts):
            parse, what = KINDS.get(field, (str, 'a name'))
            try:
                change[field] = parse(part)
            except ValueError:
                raise ValueError(f'{name} value {value!r}: {field} must be '
                                 f'{what}, as in {example}') from None
        settings.append((value, change))
    return settings


def check_models(models):
    """`models` (a name or names) in `MODELS`' order, each once; an
    unknown name is a usage error naming the choices."""
    models = [models] if isinstance(models, str) else list(models)
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise UsageError(f'unknown model {unknown[0]!r}: ' if unknown else
                         'no model: ' + f'expected some of '
                         f'{", ".join(MODELS)}')
    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        print(f'note: model(s) {", ".join(repeated)} given more than once; '
              f'each model is trained once per seed', file=sys.stderr)
    return [m for m in MODELS if m in models]


def model_config(model, settings=None):
    """The `TrainConfig` of `model`: the corrected protocol, its family's
    recipe, then `settings` (config fields a user gave) on top."""
    settings = dict(settings or {})
    base = TrainConfig(protocol=CORRECTED.name)
    for name in settings:
        if name in REFUSED and settings[name] != getattr(base, name):
            raise UsageError(f'{option(name)}: {REFUSED[name]}')
    config = dataclasses.replace(base, model=model, **RECIPES[model])
    return dataclasses.replace(config, **settings).validate()
