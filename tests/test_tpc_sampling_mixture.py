"""Defensive (mixture) importance sampling: probabilities, weight bound and unbiasedness of the loss."""
import pytest

torch = pytest.importorskip("torch")

from hepvq.tpc import sampling  # noqa: E402


def test_mixture_probabilities_bounded_and_normalised():
    y = torch.zeros(2, 1000)
    y[0, :50] = torch.rand(50) + 0.1          # a sparse row
    p = sampling.mixture_weights(y, mix=0.25)
    assert torch.allclose(p.sum(dim=1), torch.ones(2), atol=1e-5)
    # every voxel keeps at least mix/N probability, so every loss weight 1/(N p) is at most 1/mix
    assert float((1.0 / (y.shape[1] * p)).max()) <= 1 / 0.25 + 1e-4
    assert torch.allclose(p[1], torch.full((1000,), 1e-3))   # an empty row is uniform


def test_weighted_loss_is_unbiased_estimate_of_full_mse():
    g = torch.Generator().manual_seed(0)
    y = torch.zeros(1, 2000)
    y[0, :100] = torch.rand(100, generator=g)
    err2 = (y - 0.05) ** 2                        # squared errors of some fixed prediction
    p = sampling.mixture_weights(y, mix=0.5)
    idx = torch.multinomial(p, 400_000, replacement=True, generator=g)
    est = (err2.gather(1, idx) / (y.shape[1] * p.gather(1, idx))).mean()
    assert float(est) == pytest.approx(float(err2.mean()), rel=0.02)


def test_mix_out_of_range_rejected():
    with pytest.raises(ValueError, match="mix"):
        sampling.mixture_weights(torch.ones(1, 4), mix=0.0)
