"""Learning curves as a PNG, without touching pyplot's global state."""
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def save_curves(history, path, title=None):
    """Plot hit rate and AUC per evaluated epoch, and the loss, to `path`."""
    fig = Figure(figsize=(9, 3.6))
    FigureCanvasAgg(fig)
    ax_rank, ax_loss = fig.subplots(1, 2)
    evaluated = [r for r in history if 'hit_rate' in r]
    epochs = [r['epoch'] for r in evaluated]
    ax_rank.plot(epochs, [r['hit_rate'] for r in evaluated], 'o-',
                 label='test hit rate')
    ax_rank.plot(epochs, [r['auc'] for r in evaluated], 's--',
                 label='test AUC')
    ax_rank.set(xlabel='epoch', ylim=(0, 1), title='test ranking')
    ax_rank.grid(alpha=0.3)
    ax_rank.legend()
    ax_loss.plot([r['epoch'] for r in history],
                 [r['loss'] for r in history], 'o-', color='tab:red')
    ax_loss.set(xlabel='epoch', title='train loss (as the chapter prints '
                'it)')
    ax_loss.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
