"""The section's four exercises as settings: each one's question, and
how one ``--values`` entry sets the config; and the ablation's models,
their recipes and the settings it fixes.
Plain data, so that the command line lists and checks them without
MXNet (`exercises` and `ablation` run them).
"""

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


def parse_hiddens(text):
    try:
        sizes = tuple(int(x) for x in text.replace(',', ' ').split())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ValueError(f'hidden sizes {text!r}: expected sizes >= 1 '
                         f'such as "32 16 8"')
    return {'nums_hiddens': sizes}


def parse_optim(text):
    parts = text.split(':')
    if len(parts) != 3:
        raise ValueError(f'optimizer setting {text!r}: expected '
                         f'NAME:LR:WD such as adam:0.01:1e-5')
    try:
        return {'optimizer': parts[0], 'lr': float(parts[1]),
                'wd': float(parts[2])}
    except ValueError:
        raise ValueError(f'optimizer setting {text!r}: LR and WD must be '
                         f'numbers, as in adam:0.01:1e-5') from None


def _whole(text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'{what} {text!r}: expected a whole number') \
            from None


EXERCISES = {
    # name: (the question, how one --values entry sets the config)
    'factors': ('How does the size of the latent factors matter?',
                lambda v: {'num_factors': _whole(v, 'factor size')}),
    'hiddens': ('How do the MLP layers (number, width) matter?',
                parse_hiddens),
    'optim': ('Other optimizers, learning rates and weight decay '
              '(NAME:LR:WD)', parse_optim),
    'loss': ('The hinge loss instead of BPR (or the log loss)',
             lambda v: {'loss': v}),
}


def settings_for(name, values):
    """Check every value up front: a bad one is a usage error."""
    parse = EXERCISES[name][1]
    return [(v, parse(v)) for v in values]
