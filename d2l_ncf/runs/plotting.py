"""Figures without pyplot's global state: learning curves, exercise
results, and the NeuMF architecture."""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch


from ..metrics import RANKING, label, short_name


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
                     label='test ' + label(name))
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


def numeric_settings(rows):
    """The settings as numbers if every one is a number, else None."""
    try:
        return [float(r['setting']) for r in rows]
    except (TypeError, ValueError):
        return None


def _sd(value):
    """A row's standard deviation for an error bar: none (one seed) is
    drawn as no bar."""
    return 0.0 if value in (None, '') else float(value)


def exercise_figure(rows, xlabel, k, title=None):
    """Final metrics per setting, mean with the seeds' sd as error bars.

    Numeric settings (factor sizes) go on a numeric axis (log 2 when they
    span more than a factor of 4) joined by lines; other settings are
    categories: points side by side, no line between them.
    """
    fig = Figure(figsize=(7.5, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    metrics = [m for m in RANKING if f'final_{m}' in rows[0]]
    labels = [str(r['setting']) for r in rows]
    values = numeric_settings(rows)
    if values is not None and len(set(values)) == len(values):
        order = sorted(range(len(rows)), key=values.__getitem__)
        x = [values[i] for i in order]
        rows = [rows[i] for i in order]
        for m, style in zip(metrics, ('o-', 's-', '^-')):
            ax.errorbar(x, [float(r[f'final_{m}']) for r in rows],
                        yerr=[_sd(r[f'final_{m}_sd']) for r in rows],
                        fmt=style, capsize=3, label=short_name(m, k))
        if min(x) > 0 and max(x) / min(x) > 4:
            ax.set_xscale('log', base=2)
        ax.set_xticks(x)
        ax.set_xticklabels([f'{v:g}' for v in x])
    else:
        width = 0.5 / len(metrics)
        for j, (m, marker) in enumerate(zip(metrics, 'os^')):
            offset = (j - (len(metrics) - 1) / 2) * width
            ax.errorbar([i + offset for i in range(len(rows))],
                        [float(r[f'final_{m}']) for r in rows],
                        yerr=[_sd(r[f'final_{m}_sd']) for r in rows],
                        fmt=marker, linestyle='none', capsize=3,
                        label=short_name(m, k))
        ax.set_xticks(list(range(len(rows))))
        longest = max(len(t) for t in labels)
        ax.set_xticklabels(labels, rotation=25 if longest > 8 else 0,
                           ha='right' if longest > 8 else 'center')
        ax.set_xlim(-0.6, len(rows) - 0.4)
    seeds = rows[0].get('n', rows[0].get('seeds', 1))  # older tables
    ax.set(xlabel=xlabel, ylabel=f'final value (mean ± sd, {seeds} '
           f'seed{"s" if int(seeds) > 1 else ""})', ylim=(0, 1))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc='best')
    fig.tight_layout()
    return fig


def _box(ax, x, y, w, h, text, color, size=10):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                boxstyle='round,pad=0.02,rounding_size=0.08',
                                facecolor=color, edgecolor='0.25', lw=1.2))
    ax.text(x, y, text, ha='center', va='center', fontsize=size)


def _arrow(ax, start, end):
    ax.annotate('', xy=end, xytext=start,
                arrowprops=dict(arrowstyle='->', color='0.2', lw=1.2))


def neumf_figure():
    """The NeuMF architecture: GMF (P, Q, product) and MLP (U, V, dense
    layers) side by side, fused by a prediction layer."""
    fig = Figure(figsize=(8, 6.4))
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set(xlim=(0, 10), ylim=(0, 10))
    ax.axis('off')
    gmf, mlp, pred = '#dbe9f6', '#fde4c8', '#d9f0d3'
    # inputs
    _box(ax, 3.0, 0.6, 2.2, 0.6, 'user $u$ (id)', '0.93')
    _box(ax, 7.0, 0.6, 2.2, 0.6, 'item $i$ (id)', '0.93')
    # embeddings
    emb = {'P': (1.2, 'GMF user\n$\\mathbf{p}_u$ = row $u$ of $\\mathbf{P}$',
                 gmf),
           'Q': (3.4, 'GMF item\n$\\mathbf{q}_i$ = row $i$ of $\\mathbf{Q}$',
                 gmf),
           'U': (6.0, 'MLP user\n$\\mathbf{U}_u$ = row $u$ of $\\mathbf{U}$',
                 mlp),
           'V': (8.4, 'MLP item\n$\\mathbf{V}_i$ = row $i$ of $\\mathbf{V}$',
                 mlp)}
    for name, (x, text, color) in emb.items():
        _box(ax, x, 2.3, 2.1, 0.95, text, color, 9)
    for name, x in (('P', 1.2), ('U', 6.0)):
        _arrow(ax, (3.0, 0.9), (x, 1.8))
    for name, x in (('Q', 3.4), ('V', 8.4)):
        _arrow(ax, (7.0, 0.9), (x, 1.8))
    # GMF path
    _box(ax, 2.3, 4.1, 2.9, 0.8,
         'element-wise product\n$\\mathbf{x} = \\mathbf{p}_u \\odot '
         '\\mathbf{q}_i$', gmf, 9)
    _arrow(ax, (1.2, 2.8), (2.0, 3.7))
    _arrow(ax, (3.4, 2.8), (2.6, 3.7))
    # MLP path
    _box(ax, 7.2, 3.6, 2.9, 0.6,
         'concatenate $[\\mathbf{U}_u, \\mathbf{V}_i]$', mlp, 9)
    _arrow(ax, (6.0, 2.8), (6.8, 3.3))
    _arrow(ax, (8.4, 2.8), (7.6, 3.3))
    layers = ('Dense 10, ReLU', 'Dense 10, ReLU',
              'Dense 10, ReLU: $\\mathbf{z}^{(L)}$')
    for j, text in enumerate(layers):
        _box(ax, 7.2, 4.5 + 0.8 * j, 2.9, 0.5, text, mlp, 9)
        _arrow(ax, (7.2, 3.9 + 0.8 * j if j else 3.9),
               (7.2, 4.25 + 0.8 * j))
    ax.text(5.6, 5.05, 'layers set by\nnums_hiddens', fontsize=8,
            ha='right', va='center', color='0.3')
    # fusion
    _box(ax, 4.9, 7.5, 4.6, 0.6,
         'concatenate $[\\mathbf{x}, \\mathbf{z}^{(L)}]$ (NeuMF layer)',
         pred, 9)
    _arrow(ax, (2.3, 4.5), (4.2, 7.2))
    _arrow(ax, (7.2, 6.35), (5.6, 7.2))
    _box(ax, 4.9, 8.5, 4.6, 0.8,
         'prediction layer: '
         '$\\mathbf{h}^\\top[\\mathbf{x}, \\mathbf{z}^{(L)}]$,\n'
         'then $\\sigma$ (the chapter; none, corrected)', pred, 9)
    _arrow(ax, (4.9, 7.8), (4.9, 8.1))
    _box(ax, 4.9, 9.45, 2.6, 0.5, 'score $\\hat{y}_{ui}$', '0.93', 10)
    _arrow(ax, (4.9, 8.9), (4.9, 9.2))
    ax.text(0.3, 5.6, 'GMF', fontsize=13, color='#2b6ca3',
            weight='bold')
    ax.text(5.6, 5.6, 'MLP', fontsize=13, color='#b8620f',
            weight='bold', ha='right')
    return fig


def ablation_figure(summary):
    """The ablation's means as grouped bars, the seeds' sd as error bars:
    a panel per evaluation, a group per model, a bar per metric."""
    evals = list(dict.fromkeys(e['eval'] for e in summary))
    fig = Figure(figsize=(5.2 * len(evals) + 0.6, 4.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(evals), squeeze=False)[0]
    for ax, ev in zip(axes, evals):
        entries = [e for e in summary if e['eval'] == ev]
        metrics = [m for m in RANKING if m in entries[0]]
        width = 0.8 / len(metrics)
        for j, m in enumerate(metrics):
            x = [i + (j - (len(metrics) - 1) / 2) * width
                 for i in range(len(entries))]
            ax.bar(x, [e[m] for e in entries], width,
                   yerr=[e[f'{m}_sd'] or 0.0 for e in entries],
                   capsize=3, label=short_name(m, entries[0]['k']))
        ax.set_xticks(list(range(len(entries))))
        ax.set_xticklabels([e['model'] for e in entries], rotation=20,
                           ha='right')
        n = sorted({e['n'] for e in entries})
        ax.set(ylim=(0, 1.12), yticks=[0, 0.2, 0.4, 0.6, 0.8, 1.0],
               title=f'{ev} evaluation',
               ylabel=(f'mean ± sd over {"/".join(map(str, n))} seeds'
                       if n != [1] else 'one seed (n=1)'))
        ax.grid(axis='y', alpha=0.3)
        ax.legend(loc='upper center', ncol=len(metrics), fontsize=9)
    fig.tight_layout()
    return fig
