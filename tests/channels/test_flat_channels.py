"""AWGN, Rayleigh, Rician and the error-free channel against theory.

Statistical checks use the sample sizes given in each test; tolerances are
about 5 standard errors, so a correct model fails with negligible probability
and a wrong variance or a per-batch (instead of per-example) draw fails.
"""
import math

import pytest
import torch
from scipy import stats

import channels
from channels.base import ChannelOutput

G = lambda s: torch.Generator().manual_seed(s)  # noqa: E731


def _unit_qpsk(shape, seed=0):
    g = G(seed)
    b = torch.randint(0, 2, (*shape, 2), generator=g).float()
    s = (1 - 2 * b) / math.sqrt(2)
    return torch.complex(s[..., 0], s[..., 1])


def test_registry_lists_and_rejects():
    assert channels.names() == ["awgn", "none", "rayleigh", "rician", "tdl"]
    with pytest.raises(ValueError, match="valid channels: awgn, none"):
        channels.get("rayleig")
    with pytest.raises(ValueError, match="bad parameters"):
        channels.get("awgn", k_factor_db=3)


@pytest.mark.parametrize("kw", [dict(coherence="frame"), dict(coherence="block", block_length=0),
                                dict(csi="mmse"), dict(csi="ls", coherence="symbol"),
                                dict(csi="ls", num_pilots=0)])
def test_rayleigh_bad_params(kw):
    with pytest.raises(ValueError):
        channels.get("rayleigh", **kw)


def test_rician_rejects_nan_k():
    with pytest.raises(ValueError):
        channels.get("rician", k_factor_db=float("nan"))


@pytest.mark.parametrize("name", ["awgn", "rayleigh", "rician"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_noise_variance_is_n0(name, snr_db):
    # 400 x 256 = 102,400 complex noise samples: std error of the variance ~0.3%
    x = _unit_qpsk((400, 256))
    out = channels.get(name)(x, snr_db, generator=G(1))
    noise = out.y - out.h * x
    no = 10 ** (-snr_db / 10)
    assert abs(noise.abs().square().mean().item() / no - 1) < 0.02
    # circular: half the power in each real dimension
    assert abs(noise.real.square().mean().item() / (no / 2) - 1) < 0.03
    assert torch.allclose(out.no, torch.tensor(no), rtol=1e-6)


@pytest.mark.parametrize("name,kw", [("rayleigh", {}), ("rician", {"k_factor_db": 6.0})])
def test_fading_power_is_one(name, kw):
    x = torch.ones(20_000, 4, dtype=torch.complex64)
    out = channels.get(name, **kw)(x, 30.0, generator=G(2))
    p = out.h[:, 0].abs().square()
    assert abs(p.mean().item() - 1) < 0.03          # 20k draws, std error 0.7%


def test_rayleigh_gain_is_exponential():
    x = torch.ones(5000, 1, dtype=torch.complex64)
    out = channels.get("rayleigh")(x, 30.0, generator=G(3))
    p = out.h.abs().square().flatten().double().numpy()
    assert stats.kstest(p, "expon").pvalue > 1e-3


def test_rician_k_factor():
    # |h| is Rice distributed with nu = sqrt(K/(K+1)), sigma^2 = 1/(2(K+1))
    k_db = 6.0
    k = 10 ** (k_db / 10)
    x = torch.ones(5000, 1, dtype=torch.complex64)
    out = channels.get("rician", k_factor_db=k_db)(x, 30.0, generator=G(4))
    a = out.h.abs().flatten().double().numpy()
    sigma = math.sqrt(1 / (2 * (k + 1)))
    nu = math.sqrt(k / (k + 1))
    assert stats.kstest(a, "rice", args=(nu / sigma, 0, sigma)).pvalue > 1e-3
    # and it is not Rayleigh
    assert stats.kstest(a ** 2, "expon").pvalue < 1e-6


def test_coherence_example_block_symbol():
    x = torch.ones(64, 40, dtype=torch.complex64)
    h_ex = channels.get("rayleigh", coherence="example")(x, 20.0, generator=G(5)).h
    assert torch.all(h_ex == h_ex[:, :1])                         # one draw per example
    assert h_ex[:, 0].real.unique().numel() == 64                      # fresh per example
    h_bl = channels.get("rayleigh", coherence="block", block_length=16)(x, 20.0, generator=G(5)).h
    assert torch.all(h_bl[:, :16] == h_bl[:, :1]) and torch.all(h_bl[:, 32:] == h_bl[:, 32:33])
    assert not torch.allclose(h_bl[:, 0], h_bl[:, 16])
    h_sy = channels.get("rayleigh", coherence="symbol")(x, 20.0, generator=G(5)).h
    assert h_sy.real.flatten().unique().numel() == 64 * 40


def test_fading_is_fresh_per_snr_point_and_example():
    x = torch.ones(3, 8, 4, dtype=torch.complex64)     # (S, B, N)
    out = channels.get("rayleigh")(x, torch.tensor([[0.0], [5.0], [10.0]]), generator=G(6))
    assert out.h[..., 0].real.flatten().unique().numel() == 24
    assert torch.allclose(out.no[:, 0, 0], torch.tensor([1.0, 10 ** -0.5, 0.1]))


def test_error_free_channel():
    x = _unit_qpsk((4, 10))
    out = channels.get("none")(x, -30.0)
    assert torch.equal(out.y, x) and torch.all(out.no == 0)


def test_ls_estimate_error_variance_and_pilot_cost():
    ch = channels.get("rayleigh", coherence="block", block_length=8, csi="ls", num_pilots=4)
    assert ch.channel_uses(64) == 64 + 8 * 4 and ch.channel_uses(65) == 65 + 9 * 4
    x = torch.ones(20_000, 8, dtype=torch.complex64)
    for snr in (0.0, 10.0):
        out = ch(x, snr, generator=G(7))
        assert out.h.shape == x.shape
        no = 10 ** (-snr / 10)
        # y - h_hat x = (h - h_hat) + n: variance no/4 + no
        mse = (out.y - out.h * x).abs().square().mean().item()
        assert abs(mse / (no + no / 4) - 1) < 0.03
        assert torch.allclose(out.err_var, torch.tensor(no / 4))
    assert channels.get("awgn", csi="ls").channel_uses(10) == 14


def test_same_generator_same_draws():
    x = _unit_qpsk((16, 32))
    ch = channels.get("rician", coherence="block", block_length=4)
    a, b = ch(x, 5.0, generator=G(9)), ch(x, 5.0, generator=G(9))
    c = ch(x, 5.0, generator=G(10))
    assert torch.equal(a.y, b.y) and not torch.equal(a.y, c.y)


@pytest.mark.parametrize("name", ["none", "awgn", "rayleigh", "rician"])
def test_gradient_flows_to_transmitter(name):
    x = _unit_qpsk((8, 16)).requires_grad_(True)
    out = channels.get(name)(x, 5.0, generator=G(11))
    loss = (out.y * out.h.conj()).real.sum()
    loss.backward()
    # d/dx of Re(h x conj(h)) summed = |h|^2 per symbol (Wirtinger convention of torch)
    assert torch.allclose(x.grad.real, out.h.abs().square(), atol=1e-5)


def test_double_precision_and_output_type():
    x = _unit_qpsk((4, 8)).to(torch.complex128)
    out = channels.get("rayleigh")(x, 3.0, generator=G(12))
    assert isinstance(out, ChannelOutput)
    assert out.y.dtype == torch.complex128 and out.h.dtype == torch.complex128
    with pytest.raises(TypeError):
        channels.get("awgn")(torch.ones(3, 4), 0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_statistics():
    x = _unit_qpsk((200, 64)).cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    out = channels.get("rayleigh")(x, 10.0, generator=g)
    assert out.y.device.type == "cuda"
    assert abs((out.y - out.h * x).abs().square().mean().item() / 0.1 - 1) < 0.05
