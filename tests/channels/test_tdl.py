"""TDL-over-OFDM channel (channels.tdl) against its contract and against theory.

Statistical checks state their sample sizes; tolerances are 4-6 standard
errors (measured over seeds), so a correct model passes with negligible
probability of failure while a wrong power normalisation, noise variance or
RE ordering fails. Small grids (``num_ofdm_symbols=1``) are used where only
per-RE statistics matter, to keep the file fast.
"""
import math

import pytest
import torch
from scipy import stats

import channels
from channels.base import ChannelOutput
from channels.equalizer import equalize
from channels.tdl import TDLOFDMChannel

G = lambda s: torch.Generator().manual_seed(s)  # noqa: E731


def _qpsk_bits(shape, seed=0):
    b = torch.randint(0, 2, (*shape, 2), generator=G(seed))
    s = (1 - 2 * b.float()) / math.sqrt(2)
    return b, torch.complex(s[..., 0], s[..., 1])


def _unit_qpsk(shape, seed=0):
    return _qpsk_bits(shape, seed)[1]


# -- construction, sizes, registry --------------------------------------------

def test_registry_builds_tdl_and_describe():
    ch = channels.get("tdl", model="B", delay_spread_ns=300.0, fft_size=48, csi="ls")
    assert isinstance(ch, TDLOFDMChannel) and ch.name == "tdl"
    d = ch.describe()
    assert d["name"] == "tdl" and d["model"] == "B" and d["delay_spread_ns"] == 300.0
    assert d["csi"] == "ls" and d["fft_size"] == 48 and d["pilot_ofdm_symbol_indices"] == [2, 11]
    assert "pilot_ofdm_symbol_indices" not in channels.get("tdl").describe()
    with pytest.raises(ValueError, match="bad parameters"):
        channels.get("tdl", k_factor_db=3.0)


@pytest.mark.parametrize("kw", [
    dict(model="F"), dict(model="A30"), dict(csi="lmmse"), dict(delay_spread_ns=0.0),
    dict(delay_spread_ns=float("nan")), dict(carrier_frequency_hz=-1.0),
    dict(subcarrier_spacing_hz=0.0), dict(fft_size=0), dict(fft_size=12.5),
    dict(num_ofdm_symbols=0), dict(max_speed_mps=-1.0), dict(min_speed_mps=5.0, max_speed_mps=1.0),
    dict(csi="ls", pilot_ofdm_symbol_indices=()), dict(csi="ls", pilot_ofdm_symbol_indices=(2, 2)),
    dict(csi="ls", pilot_ofdm_symbol_indices=(14,)),
    dict(csi="ls", pilot_ofdm_symbol_indices=(-1,)),
    dict(csi="ls", num_ofdm_symbols=2, pilot_ofdm_symbol_indices=(0, 1)),
])
def test_bad_params_raise_value_error(kw):
    with pytest.raises(ValueError):
        TDLOFDMChannel(**kw)
    with pytest.raises(ValueError):
        channels.get("tdl", **kw)


def test_pilot_indices_ignored_without_ls():
    # perfect CSI sends no pilots, so pilot indices outside a short slot are fine
    ch = TDLOFDMChannel(num_ofdm_symbols=2)
    assert ch.data_res_per_slot == 2 * 72


def test_channel_uses_count_pilots_and_padding():
    perfect = TDLOFDMChannel()                     # 14 x 72 = 1008 REs, all data
    assert perfect.channel_uses(0) == 0
    assert perfect.channel_uses(1) == 1008 and perfect.channel_uses(1008) == 1008
    assert perfect.channel_uses(1009) == 2016
    ls = TDLOFDMChannel(csi="ls")                  # 2 pilot symbols: 864 data REs / slot
    assert ls.data_res_per_slot == 864
    assert ls.channel_uses(864) == 1008 and ls.channel_uses(865) == 2016
    assert ls.channel_uses(2000) == 3 * 1008
    small = TDLOFDMChannel(fft_size=12, num_ofdm_symbols=4, csi="ls", pilot_ofdm_symbol_indices=[1])
    assert small.channel_uses(37) == 2 * 48        # 36 data REs per slot -> 2 slots


# -- shapes, dtypes, order ------------------------------------------------------

@pytest.mark.parametrize("csi", ["perfect", "ls"])
def test_shapes_and_dtypes_with_padding(csi):
    n = 1500                                       # not a multiple of 1008 or 864
    x = _unit_qpsk((2, 5, n))
    snr = torch.tensor([0.0, 5.0, 10.0, 15.0, 20.0])
    out = TDLOFDMChannel(csi=csi)(x, snr, generator=G(0))
    assert isinstance(out, ChannelOutput)
    assert out.y.shape == out.h.shape == x.shape
    assert out.y.dtype == out.h.dtype == torch.complex64
    assert out.no.shape == (2, 5, 1) and out.no.dtype == torch.float32
    assert torch.allclose(out.no[0, :, 0], 10 ** (-snr / 10))
    assert torch.broadcast_shapes(out.err_var.shape, out.y.shape) == out.y.shape
    assert torch.isfinite(out.y).all() and torch.isfinite(out.h).all()


def test_double_precision_1d_input_and_real_input_rejected():
    x = _unit_qpsk((300,)).to(torch.complex128)
    out = TDLOFDMChannel(csi="ls")(x, 3.0, generator=G(1))
    assert out.y.shape == (300,) and out.y.dtype == out.h.dtype == torch.complex128
    assert out.no.dtype == out.err_var.dtype == torch.float64
    with pytest.raises(TypeError):
        TDLOFDMChannel()(torch.ones(2, 8), 0.0)


@pytest.mark.parametrize("shape", [(3, 0), (0, 10)])
def test_empty_inputs(shape):
    out = TDLOFDMChannel(csi="ls")(torch.zeros(shape, dtype=torch.complex64), 5.0, generator=G(1))
    assert out.y.shape == out.h.shape == shape


def test_data_order_is_preserved():
    # Almost noiseless: y / h must give back x symbol by symbol (a permuted
    # or misaligned RE mapping of y or h would not).
    x = _unit_qpsk((3, 2500), seed=2)
    out = TDLOFDMChannel(delay_spread_ns=300.0)(x, 100.0, generator=G(2))
    x_hat, _ = equalize(out.y, out.h, out.no, "zf")
    assert torch.allclose(x_hat, x, atol=1e-3)


def test_perfect_csi_is_symbol_major_and_static_without_mobility():
    # One example of exactly one slot: h reshaped to (symbols, subcarriers) is the grid.
    x = torch.ones(50, 14 * 72, dtype=torch.complex64)
    h = TDLOFDMChannel()(x, 30.0, generator=G(3)).h.reshape(50, 14, 72)
    assert torch.allclose(h, h[:, :1].expand_as(h), atol=1e-5)   # static: same every symbol
    h_mob = TDLOFDMChannel(max_speed_mps=100.0, min_speed_mps=100.0)(x, 30.0, generator=G(3)).h
    h_mob = h_mob.reshape(50, 14, 72)
    # 100 m/s at 3.5 GHz: 1.17 kHz Doppler over a 0.47 ms slot decorrelates H noticeably
    change = (h_mob[:, -1] - h_mob[:, 0]).abs().square().mean() / h_mob.abs().square().mean()
    assert change > 0.1


def test_frequency_selectivity_depends_on_delay_spread():
    x = torch.ones(500, 72, dtype=torch.complex64)

    def spread(ds_ns):
        h = TDLOFDMChannel(delay_spread_ns=ds_ns, num_ofdm_symbols=1)(x, 30.0, generator=G(4)).h
        # variance across the 72 subcarriers of a slot, relative to the slot's power
        v = (h - h.mean(-1, keepdim=True)).abs().square().mean(-1) / h.abs().square().mean(-1)
        return v.mean().item()

    assert spread(300.0) > 0.3          # TDL-A 300 ns over 2.16 MHz: strongly selective
    assert spread(1.0) < 0.01           # 1 ns: practically flat


# -- statistics -----------------------------------------------------------------

@pytest.mark.parametrize("model", ["A", "B", "C", "D", "E"])
def test_average_channel_power_is_one(model):
    # 4000 independent slots x 72 subcarriers (300 ns): std error of the mean ~1.3%
    x = torch.zeros(4000, 72, dtype=torch.complex64)
    ch = TDLOFDMChannel(model=model, delay_spread_ns=300.0, num_ofdm_symbols=1)
    h = ch(x, 10.0, generator=G(5)).h
    assert abs(h.abs().square().mean().item() - 1) < 0.06


def test_per_re_fading_is_rayleigh_for_nlos_and_not_for_los():
    # One RE per slot -> 4000 independent draws of |H|^2; Exp(1) for TDL-A
    x = torch.zeros(4000, 12, dtype=torch.complex64)
    kw = dict(delay_spread_ns=100.0, fft_size=12, num_ofdm_symbols=1)
    p_a = TDLOFDMChannel(model="A", **kw)(x, 10.0, generator=G(6)).h[:, 5].abs().square()
    assert stats.kstest(p_a.double().numpy(), "expon").pvalue > 1e-3
    p_d = TDLOFDMChannel(model="D", **kw)(x, 10.0, generator=G(6)).h[:, 5].abs().square()
    assert stats.kstest(p_d.double().numpy(), "expon").pvalue < 1e-6   # K = 13.3 dB LOS tap


@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_noise_variance_is_n0_with_perfect_csi(snr_db):
    # 8 x 20,000 = 160,000 noise samples: std error of the variance ~0.25%
    x = _unit_qpsk((8, 20_000), seed=7)
    out = TDLOFDMChannel()(x, snr_db, generator=G(7))
    noise = out.y - out.h * x
    no = 10 ** (-snr_db / 10)
    assert abs(noise.abs().square().mean().item() / no - 1) < 0.02
    assert abs(noise.real.square().mean().item() / (no / 2) - 1) < 0.03   # circular
    assert float(out.err_var) == 0.0


def test_noise_follows_per_point_snr():
    x = _unit_qpsk((2, 3, 10_000), seed=8)
    snr = torch.tensor([0.0, 10.0, 20.0])
    out = TDLOFDMChannel()(x, snr, generator=G(8))
    var = (out.y - out.h * x).abs().square().mean(dim=(0, 2))
    assert torch.allclose(var / 10 ** (-snr / 10), torch.ones(3), rtol=0.05)


def test_ls_estimate_error_matches_err_var_and_falls_with_snr():
    # For unit-modulus x: y - h_ls x = n - (h_ls - h) x, pilot and data noise
    # independent, so E|y - h_ls x|^2 = N0 + MSE(h_ls). 20 x 8640 = 172,800 REs.
    ch = TDLOFDMChannel(csi="ls", delay_spread_ns=300.0)
    x = _unit_qpsk((20, 10 * 864), seed=9)
    mses = []
    for snr in (0.0, 10.0, 20.0):
        out = ch(x, snr, generator=G(9))
        no = 10 ** (-snr / 10)
        mse = (out.y - out.h * x).abs().square().mean().item() - no
        mses.append(mse)
        # nearest-neighbour LS on full pilot symbols of a static channel: error = pilot noise
        assert torch.allclose(out.err_var, torch.tensor(no), rtol=1e-5)
        assert abs(mse / out.err_var.mean().item() - 1) < 0.06
    assert mses[0] > 5 * mses[1] > 25 * mses[2]


def test_uncoded_qpsk_ber_matches_rayleigh_closed_form():
    # Per-RE TDL-A fading is CN(0,1), so ZF-detected QPSK (Es/N0 = SNR, g = SNR/2
    # per bit) has BER 0.5 (1 - sqrt(g / (1 + g))) = 0.04356 at 10 dB.
    # 4000 slots x 72 REs x 2 bits = 576,000 bits but ~3 independent fades per
    # slot: relative std error ~1.6% (measured over seeds) -> 10% tolerance.
    bits, x = _qpsk_bits((4000, 72), seed=10)
    ch = TDLOFDMChannel(model="A", delay_spread_ns=300.0, num_ofdm_symbols=1)
    out = ch(x, 10.0, generator=G(10))
    x_hat, _ = equalize(out.y, out.h, out.no, "zf")
    bits_hat = torch.stack([x_hat.real < 0, x_hat.imag < 0], dim=-1).long()
    ber = (bits_hat != bits).float().mean().item()
    g = 10 ** (10.0 / 10) / 2
    ref = 0.5 * (1 - math.sqrt(g / (1 + g)))
    assert abs(ber / ref - 1) < 0.10, (ber, ref)


# -- reproducibility, gradients, devices -----------------------------------------

@pytest.mark.parametrize("csi", ["perfect", "ls"])
def test_same_generator_same_draws(csi):
    x = _unit_qpsk((4, 1200), seed=11)
    ch = TDLOFDMChannel(csi=csi, max_speed_mps=30.0)
    a = ch(x, 5.0, generator=G(12))
    b = TDLOFDMChannel(csi=csi, max_speed_mps=30.0)(x, 5.0, generator=G(12))  # fresh instance
    c = ch(x, 5.0, generator=G(12))
    d = ch(x, 5.0, generator=G(13))
    assert torch.equal(a.y, b.y) and torch.equal(a.h, b.h)
    assert torch.equal(a.y, c.y) and torch.equal(a.h, c.h)
    assert not torch.equal(a.y, d.y) and not torch.equal(a.h, d.h)


def test_explicit_generator_leaves_sionna_rng_alone():
    from sionna.phy import config
    before = config.torch_rng("cpu").get_state()
    TDLOFDMChannel(csi="ls")(_unit_qpsk((2, 100)), 0.0, generator=G(14))
    assert torch.equal(config.torch_rng("cpu").get_state(), before)


@pytest.mark.parametrize("csi", ["perfect", "ls"])
def test_gradient_flows_to_transmitter(csi):
    x = _unit_qpsk((3, 1100), seed=15).requires_grad_(True)
    out = TDLOFDMChannel(csi=csi)(x, 5.0, generator=G(15))
    loss = out.y.real.sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    if csi == "perfect":
        # dRe(h x)/dx in torch's convention is conj(h)
        assert torch.allclose(x.grad, out.h.conj(), atol=1e-6)
    else:
        assert (x.grad.abs() > 0).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_runs_and_noise_variance():
    x = _unit_qpsk((8, 5000)).cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    for csi in ("perfect", "ls"):
        out = TDLOFDMChannel(csi=csi)(x, 10.0, generator=g)
        assert out.y.device.type == out.h.device.type == "cuda"
        expect = 0.1 if csi == "perfect" else 0.2
        assert abs((out.y - out.h * x).abs().square().mean().item() / expect - 1) < 0.05
