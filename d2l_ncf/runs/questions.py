"""The section's four exercises as settings: each one's question, and
how one ``--values`` entry sets the config; and the ablation's models.
Plain data, so that the command line lists and checks them without
MXNet (`exercises` and `ablation` run them).
"""

# The ablation's models, in its table's order (`ablation.RECIPES` holds
# each one's settings).
ABLATION_MODELS = ('popularity', 'mf', 'gmf', 'mlp', 'neumf', 'neumf-pre')


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
