"""Draw the figures the docs and the notebook show, from code and saved
results only (no training):

- docs/figures/neumf.svg and .png, the NeuMF architecture;
- docs/exercises/*/exercise.png, redrawn from each exercise.csv.

    python notebooks/draw_figures.py
"""
import csv
import os

import matplotlib

from d2l_ncf.runs.exercises import EXERCISES, exercise_label
from d2l_ncf.runs.plotting import exercise_figure, neumf_figure

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def draw_neumf(folder=os.path.join(REPO, 'docs', 'figures')):
    os.makedirs(folder, exist_ok=True)
    fig = neumf_figure()
    paths = []
    for ext in ('svg', 'png'):
        path = os.path.join(folder, 'neumf.' + ext)
        # SVG: text kept as text (searchable), no date (redraws are equal)
        with matplotlib.rc_context({'svg.fonttype': 'none',
                                    'svg.hashsalt': 'neumf'}):
            fig.savefig(path, dpi=110, metadata={'Date': None}
                        if ext == 'svg' else None)
        paths.append(path)
    return paths


def redraw_exercises(folder=os.path.join(REPO, 'docs', 'exercises'), k=50):
    paths = []
    for name in sorted(EXERCISES):
        table = os.path.join(folder, name, 'exercise.csv')
        if not os.path.isfile(table):
            continue
        with open(table) as f:
            rows = list(csv.DictReader(f))
        fig = exercise_figure(rows, exercise_label(name), k,
                              EXERCISES[name][0])
        path = os.path.join(folder, name, 'exercise.png')
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths


if __name__ == '__main__':
    for path in draw_neumf() + redraw_exercises():
        print(path)
