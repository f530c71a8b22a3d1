"""Learning curves as a PNG, without touching pyplot's global state."""
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


LABELS = {'hit_rate': 'hit rate', 'auc': 'AUC', 'ndcg': 'NDCG'}


def save_curves(history, path, title=None):
    """Plot each test metric per evaluated epoch, and the loss, to `path`."""
    fig = Figure(figsize=(9, 3.6))
    FigureCanvasAgg(fig)
    ax_rank, ax_loss = fig.subplots(1, 2)
    evaluated = [r for r in history if 'hit_rate' in r]
    epochs = [r['epoch'] for r in evaluated]
    names = [m for m in evaluated[0] if m not in ('epoch', 'loss')] if (
        evaluated) else []
    for name, style in zip(names, ('o-', 's--', '^:', 'd-.')):
        ax_rank.plot(epochs, [r[name] for r in evaluated], style,
                     label='test ' + LABELS.get(name, name))
    ax_rank.set(xlabel='epoch', ylim=(0, 1), title='test ranking')
    ax_rank.grid(alpha=0.3)
    if names:
        ax_rank.legend()
    ax_loss.plot([r['epoch'] for r in history],
                 [r['loss'] for r in history], 'o-', color='tab:red')
    ax_loss.set(xlabel='epoch', title='train loss')
    ax_loss.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
