"""ZF and MMSE equalisers."""
import pytest
import torch

from channels.equalizer import equalize


def test_zf_inverts_and_scales_noise():
    h = torch.tensor([2.0 + 0j, 0.5j])
    x = torch.tensor([1.0 + 1j, -1.0 + 0j])
    xh, no_eff = equalize(h * x, h, 0.1, "zf")
    assert torch.allclose(xh, x)
    assert torch.allclose(no_eff, torch.tensor([0.1 / 4, 0.1 / 0.25]))


def test_mmse_biased_and_unbiased():
    h = torch.tensor([1.0 + 1j])
    y = torch.tensor([0.3 - 0.7j])
    no = 0.5
    xb, nb = equalize(y, h, no, "mmse")
    assert torch.allclose(xb, h.conj() * y / (2 + no))
    g = 2 / 2.5
    assert torch.allclose(nb, torch.tensor([1 - g]))
    xu, nu = equalize(y, h, no, "mmse", unbiased=True)
    assert torch.allclose(xu, y / h)                       # one stream: unbiased MMSE == ZF
    assert torch.allclose(nu, torch.tensor([(1 - g) / g]))


def test_mmse_lower_mse_than_zf_at_low_snr():
    g = torch.Generator().manual_seed(0)
    n = 50_000
    x = torch.complex(torch.randn(n, generator=g), torch.randn(n, generator=g)) / 2 ** 0.5
    h = torch.complex(torch.randn(n, generator=g), torch.randn(n, generator=g)) / 2 ** 0.5
    no = 1.0
    y = h * x + torch.complex(torch.randn(n, generator=g), torch.randn(n, generator=g)) * (no / 2) ** 0.5
    mse = {m: (equalize(y, h, no, m)[0] - x).abs().square().mean() for m in ("zf", "mmse")}
    assert mse["mmse"] < 0.7 < mse["zf"]


def test_unknown_equalizer():
    with pytest.raises(ValueError, match="valid: zf, mmse"):
        equalize(torch.ones(1, dtype=torch.complex64), torch.ones(1, dtype=torch.complex64), 0.1, "ml")
