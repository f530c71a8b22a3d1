"""Fresh runs against the reference outputs in tests/reference/.

Tolerances, from measured spread: in the default (portable) numerics a
rerun with the same seed is bit-identical on this machine
(test_determinism.py) and across thread counts and oneDNN caps
(test_numerics.py), and the references record the numerics they were
made with; so every reference here allows only 1e-6, the printing
precision of compare. A one-line change to the sampler or the evaluator
fails them (below).
"""
import json
import os

import pytest

import d2l_ncf.evaluation as evaluation
import d2l_ncf.engine.sampling as sampling
from d2l_ncf import cli
from synthetic import make_ratings, write_udata

HERE = os.path.join(os.path.dirname(__file__), '..', 'reference')


def reference(name):
    path = os.path.join(HERE, name + '.json')
    with open(path) as f:
        return path, json.load(f)


def rerun(name, tmp_path, data_dir):
    """Run a reference's command again; return (exit, printed, out)."""
    path, ref = reference(name)
    args = ref['reference']['command'].split()[2:]  # after 'd2l-ncf train'
    out = tmp_path / name
    code = cli.main(['train', '--no-progress', '--data-dir', data_dir,
                     '--out', str(out)] + args)
    assert code == 0
    return out, path, ref


@pytest.fixture
def synthetic_data(tmp_path):
    return write_udata(tmp_path / 'data', make_ratings())


@pytest.mark.parametrize('name', ['synthetic_book_seed0',
                                  'synthetic_corrected_seed0'])
def test_synthetic_reference(name, tmp_path, synthetic_data, capsys):
    out, path, ref = rerun(name, tmp_path, synthetic_data)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-2] == ref['reference']['printed'][0]
    assert cli.main(['compare', str(out), path, '--atol', '1e-6']) == 0


def test_broken_sampler_fails_the_reference(tmp_path, synthetic_data,
                                            monkeypatch, capsys):
    # One line: negatives drawn from all but the last item.
    real_sample = sampling.NegativeSampler.sample

    def sample(self, users, rng, num_neg=1):
        self.num_items -= 1
        try:
            return real_sample(self, users, rng, num_neg)
        finally:
            self.num_items += 1

    monkeypatch.setattr(sampling.NegativeSampler, 'sample', sample)
    out, path, _ = rerun('synthetic_corrected_seed0', tmp_path,
                         synthetic_data)
    assert cli.main(['compare', str(out), path, '--atol', '1e-6']) == 1


def test_broken_evaluator_fails_the_reference(tmp_path, synthetic_data,
                                              monkeypatch, capsys):
    # One line: an off-by-one cut-off, `position <= k` for `position < k`.
    real = evaluation.full_ranking_metrics

    def broken(scores, user_ids, candidates, test_input, num_ranked, k,
               ties):
        return real(scores, user_ids, candidates, test_input, num_ranked,
                    k + 1, ties)

    monkeypatch.setattr(evaluation, 'full_ranking_metrics', broken)
    out, path, _ = rerun('synthetic_corrected_seed0', tmp_path,
                         synthetic_data)
    assert cli.main(['compare', str(out), path, '--atol', '1e-6']) == 1


@pytest.mark.slow
def test_corrected_real_reference(real_data_dir, tmp_path, capsys):
    out, path, ref = rerun('corrected_ml100k_seed0', tmp_path,
                           real_data_dir)
    assert cli.main(['compare', str(out), path, '--atol', '1e-6']) == 0
    assert 'bit-identical' in capsys.readouterr().out
