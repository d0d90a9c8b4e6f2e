"""BitsSystem: uncoded BER against closed forms, the coded link, the contract.

Theory checks (SNR = Es/N0, Es = 1, perfect CSI, ZF):

- AWGN:     BPSK Q(sqrt(2 g)); QPSK per bit Q(sqrt(g));
            Gray 16-QAM (3/4)Q(d) + (1/2)Q(3d) - (1/4)Q(5d), d = sqrt(g/5) (exact
            for a nearest-point slicer);
- Rayleigh: BPSK 0.5(1 - sqrt(g/(1+g))); QPSK the same with g/2; 16-QAM the
            AWGN expression averaged over the exponential SNR (scipy quad).

Sample sizes: AWGN and per-symbol fading 400 blocks x 1200 bits = 480,000 bits
per SNR point; per-example fading 100,000 blocks x 16 bits (100,000
independent fades, 1.6 million bits). The error fraction of each block is one
sample, so the standard error used below is valid even though errors inside a
block are correlated (same fade, same symbol). A point passes if theory lies
inside the 99.99% normal interval (z = 3.89): with 27 points, 95% intervals
would fail a correct link about three runs in four. So that the check can
fail, theory at SNR + 1 dB must lie outside that interval (the smallest margin,
BPSK on per-symbol Rayleigh at 20 dB, is about 6 standard errors).

16-QAM uses max-log demapping, whose LLR sign is exactly the nearest-point
slicer the formula describes (exact APP bit decisions are measurably better
below ~5 dB: 0.282 vs 0.287 at 0 dB on AWGN).
"""
from __future__ import annotations

import json
import math

import pytest
import torch
from scipy import integrate

import channels
from simulations.system import System
from simulations.systems import get as get_system
from simulations.systems.bits import BitsSystem, bits_to_bytes, bytes_to_bits

Z = 3.89  # two-sided 99.99% normal quantile


def G(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _q(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


def ber_awgn(mod: str, g: float) -> float:
    if mod == "bpsk":
        return _q(math.sqrt(2 * g))
    if mod == "qpsk":
        return _q(math.sqrt(g))
    d = math.sqrt(g / 5)
    return 0.75 * _q(d) + 0.5 * _q(3 * d) - 0.25 * _q(5 * d)


def ber_rayleigh(mod: str, g: float) -> float:
    if mod in ("bpsk", "qpsk"):
        gb = g if mod == "bpsk" else g / 2
        return 0.5 * (1 - math.sqrt(gb / (1 + gb)))
    val, _ = integrate.quad(lambda t: ber_awgn(mod, g * t) * math.exp(-t), 0, math.inf,
                            limit=200)
    return val


def run_link(sys_: BitsSystem, channel, snrs, batch_size: int, seed: int = 0):
    """Drive the pipeline as the engine does; return (estimate, batch, tallies)."""
    batch = sys_.sample(batch_size, G(seed))
    x = sys_.transmit(batch)
    snr = torch.tensor(snrs, dtype=torch.float32).view(-1, 1)
    out = channel(x.unsqueeze(0).expand(len(snrs), *x.shape), snr, generator=G(seed + 1000))
    est = sys_.receive(out, batch)
    return est, batch, sys_.score(est, batch)


THEORY_CASES = {
    # (modulation, channel): (SNRs in dB, channel kwargs, theory)
    ("bpsk", "awgn"): ([0.0, 4.0, 7.0], {}, ber_awgn),
    ("qpsk", "awgn"): ([3.0, 7.0, 10.0], {}, ber_awgn),
    ("16qam", "awgn"): ([6.0, 11.0, 16.0], {}, ber_awgn),
    ("bpsk", "rayleigh-symbol"): ([0.0, 10.0, 20.0], {"coherence": "symbol"}, ber_rayleigh),
    ("qpsk", "rayleigh-symbol"): ([0.0, 10.0, 20.0], {"coherence": "symbol"}, ber_rayleigh),
    ("16qam", "rayleigh-symbol"): ([5.0, 15.0, 25.0], {"coherence": "symbol"}, ber_rayleigh),
    ("bpsk", "rayleigh-example"): ([0.0, 10.0, 20.0], {"coherence": "example"}, ber_rayleigh),
    ("qpsk", "rayleigh-example"): ([0.0, 10.0, 20.0], {"coherence": "example"}, ber_rayleigh),
    ("16qam", "rayleigh-example"): ([5.0, 15.0, 25.0], {"coherence": "example"}, ber_rayleigh),
}


@pytest.mark.parametrize("case", range(len(THEORY_CASES)),
                         ids=[f"{m}-{c}" for m, c in THEORY_CASES])
def test_uncoded_ber_matches_theory(case):
    (mod, chan), (snrs, kw, theory) = list(THEORY_CASES.items())[case]
    per_example = kw.get("coherence") == "example"
    blocks, k = (100_000, 16) if per_example else (400, 1200)
    sys_ = BitsSystem(modulation=mod, coding="none", k=k,
                      demapping="maxlog" if mod == "16qam" else "app")
    est, batch, tallies = run_link(sys_, channels.get(chan.split("-")[0], **kw), snrs, blocks,
                                   seed=100 + case)
    frac = (est != batch["bits"]).double().mean(dim=-1)          # (S, B) per-block BER
    ber = tallies["ber"].errors.double() / tallies["ber"].trials
    assert tallies["ber"].trials == blocks * k
    assert torch.allclose(ber, frac.mean(dim=1))
    se = frac.std(dim=1) / math.sqrt(blocks)
    for i, snr_db in enumerate(snrs):
        g = 10 ** (snr_db / 10)
        want, off = theory(mod, g), theory(mod, g * 10 ** 0.1)
        msg = f"{mod}/{chan} @ {snr_db} dB: BER {ber[i]:.5f} +- {Z * se[i]:.5f}, theory {want:.5f}"
        assert abs(ber[i] - want) <= Z * se[i], msg
        assert abs(ber[i] - off) > Z * se[i], msg + f" (cannot tell it from +1 dB: {off:.5f})"


@pytest.mark.parametrize("mod,chan,snr_db", [("16qam", "rayleigh", 8.0), ("qpsk", "rayleigh", 5.0),
                                              ("16qam", "awgn", 6.0)])
def test_app_llrs_are_calibrated_posteriors(mod, chan, snr_db):
    # With perfect CSI the APP LLR is the exact log posterior ratio, so a bit
    # whose LLR is L is wrongly signed with probability sigmoid(-|L|). This
    # checks the LLR sign *and* scale (no_eff per symbol, not N0): feeding N0,
    # or doubling the LLRs, misses the mean by > 80 standard errors.
    # 200 blocks x 1200 bits, per-symbol fading; z-test on per-block means.
    sys_ = BitsSystem(modulation=mod, coding="none", k=1200, demapping="app")
    batch = sys_.sample(200, G(21))
    x = sys_.transmit(batch)
    kw = {"coherence": "symbol"} if chan == "rayleigh" else {}
    out = channels.get(chan, **kw)(x.unsqueeze(0), torch.tensor([[snr_db]]), generator=G(22))
    llr = sys_.llr(out)[0].double()
    assert llr.shape == (200, 1200)
    bits = batch["bits"].double()
    assert torch.equal((llr > 0).double(), sys_.receive(out, batch)[0].double())
    wrong = ((llr > 0).double() != bits).double()
    pred = torch.sigmoid(-llr.abs())
    d = (wrong - pred).mean(dim=-1)
    assert abs(d.mean()) <= Z * d.std() / math.sqrt(len(d))
    for lo, hi in [(0, 1), (1, 2), (2, 4), (4, 8)]:       # ~30-70k bits per bin
        m = (llr.abs() >= lo) & (llr.abs() < hi)
        assert abs(wrong[m].mean() - pred[m].mean()) < 0.015, (lo, hi)


def test_constellations_are_gray_and_unit_energy():
    for mod, bps in [("bpsk", 1), ("qpsk", 2), ("16qam", 4), ("64qam", 6)]:
        sys_ = BitsSystem(modulation=mod, coding="none", k=bps)
        labels = ((torch.arange(2 ** bps).unsqueeze(-1) >> torch.arange(bps - 1, -1, -1)) & 1)
        pts = sys_.transmit({"bits": labels.float()}).reshape(-1)
        assert pts.dtype == torch.complex64
        assert abs(pts.abs().square().mean().item() - 1) < 1e-5
        dmin = min((pts[i] - pts[j]).abs().item()
                   for i in range(len(pts)) for j in range(i))
        for i in range(len(pts)):        # nearest neighbours differ in exactly one bit
            for j in range(len(pts)):
                if i != j and (pts[i] - pts[j]).abs().item() < dmin * 1.01:
                    assert int((labels[i] != labels[j]).sum()) == 1, (mod, i, j)
    bpsk = BitsSystem(modulation="bpsk", coding="none", k=2).transmit(
        {"bits": torch.tensor([[0.0, 1.0]])})
    assert torch.equal(bpsk, torch.tensor([[1 + 0j, -1 + 0j]], dtype=torch.complex64))


def test_ldpc_qpsk_beats_uncoded_and_is_error_free_at_high_snr():
    # 50 blocks of k = 512 (25,600 info bits) per point; uncoded QPSK at 4 dB: BER 0.057
    coded = BitsSystem(modulation="qpsk", coding="ldpc", k=512, n=1024)
    assert coded.symbols_per_sample() == 512
    est, batch, t = run_link(coded, channels.get("awgn"), [4.0, 10.0], 50, seed=5)
    assert est.shape == (2, 50, 512)
    ber = (t["ber"].errors / t["ber"].trials).tolist()
    assert ber[0] < ber_awgn("qpsk", 10 ** 0.4) / 100
    assert t["ber"].errors[1] == 0 and t["bler"].errors[1] == 0
    # below the waterfall the decoder fails visibly (the test is not vacuous)
    _, _, t_low = run_link(coded, channels.get("awgn"), [-2.0], 10, seed=6)
    assert t_low["bler"].errors[0] >= 8


def test_zf_and_mmse_decode_16qam_rayleigh_with_ls_csi():
    # 20 blocks per point. For one stream the *unbiased* LMMSE the demapper
    # needs is y/h with noise (no + err_var)/|h|^2, i.e. ZF: both must agree.
    ch = channels.get("rayleigh", coherence="block", block_length=16, csi="ls")
    est = {}
    for eq in ("zf", "mmse"):
        sys_ = BitsSystem(modulation="16qam", k=512, n=1024, equalizer=eq)
        est[eq], _, t = run_link(sys_, ch, [0.0, 30.0], 20, seed=7)
        assert t["bler"].errors[0] >= 15                      # 0 dB: mostly lost
        assert t["ber"].errors[1] / t["ber"].trials < 1e-3    # 30 dB: decoded
    assert (est["zf"] != est["mmse"]).float().mean() < 1e-3   # equal up to rounding


@pytest.mark.parametrize("kw", [dict(modulation="64qam", coding="ldpc", k=500, n=1020),
                                dict(modulation="bpsk", coding="ldpc", k=100, n=300),
                                dict(modulation="64qam", coding="none", k=600),
                                dict(modulation="qpsk", coding="none", k=64, demapping="maxlog")])
def test_error_free_channel_gives_zero_errors(kw):
    sys_ = BitsSystem(**kw)
    est, batch, t = run_link(sys_, channels.get("none"), [-10.0, 0.0, 30.0], 8, seed=9)
    assert est.shape == (3, 8, sys_.k)
    assert t["ber"].errors.tolist() == [0, 0, 0] and t["bler"].errors.tolist() == [0, 0, 0]
    assert t["bler"].trials == 8 and t["ber"].trials == 8 * sys_.k


@pytest.mark.parametrize("coding", ["none", "ldpc"])
def test_receive_does_not_read_the_payload(coding):
    sys_ = BitsSystem(modulation="16qam", coding=coding, k=512, n=1024)
    batch = sys_.sample(8, G(10))
    x = sys_.transmit(batch)
    out = channels.get("awgn")(x.unsqueeze(0).expand(2, *x.shape),
                                torch.tensor([[3.0], [8.0]]), generator=G(11))
    est = sys_.receive(out, batch)
    garbage = {"bits": torch.full_like(batch["bits"], 7.0)}
    assert torch.equal(sys_.receive(out, garbage), est)
    # and the scorer counts errors against the true payload
    assert (sys_.score(est, batch)["ber"].errors < sys_.score(est, garbage)["ber"].errors).all()


def test_score_counts_errors_per_snr_point():
    sys_ = BitsSystem(modulation="qpsk", coding="none", k=8)
    bits = torch.zeros(3, 8)
    est = torch.zeros(2, 3, 8)
    est[0, 0, :3] = 1          # point 0: 3 bit errors in 1 block
    est[1, 1, 0] = est[1, 2, 7] = 1  # point 1: 2 bit errors in 2 blocks
    t = sys_.score(est, {"bits": bits})
    assert t["ber"].errors.tolist() == [3, 2] and t["ber"].trials == 24
    assert t["bler"].errors.tolist() == [1, 2] and t["bler"].trials == 3
    assert t["ber"].kind == t["bler"].kind == "error_rate"


def test_sample_is_deterministic_and_binary():
    sys_ = BitsSystem()
    a, b = sys_.sample(4, G(1))["bits"], sys_.sample(4, G(1))["bits"]
    assert a.shape == (4, 512) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, sys_.sample(4, G(2))["bits"])
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert abs(a.mean().item() - 0.5) < 0.05


def test_text_source_round_trips_over_the_error_free_channel():
    text = "Grüße, tokcom! 0123456789 — a short text.".encode("utf-8")
    sys_ = BitsSystem(modulation="16qam", coding="ldpc", k=256, n=512, source="text", text=text)
    assert sys_.dataset == "text"
    est, batch, t = run_link(sys_, channels.get("none"), [0.0], 6, seed=12)
    assert t["ber"].errors.item() == 0
    cyclic = text * (256 // 8 // len(text) + 2)
    offsets = set()
    for blk in range(6):
        got = bits_to_bytes(est[0, blk])
        assert len(got) == 32
        off = int(batch["offset"][blk])
        offsets.add(off)
        assert got == cyclic[off:off + 32]   # the block is the text, cycled, from `offset`
    assert len(offsets) > 1                   # start positions are drawn
    again = sys_.sample(6, G(12))
    assert torch.equal(again["bits"], batch["bits"])
    assert bits_to_bytes(bytes_to_bits(text)) == text


@pytest.mark.parametrize("kw", [
    dict(modulation="8psk"), dict(coding="turbo"), dict(equalizer="lmmse"),
    dict(demapping="exact"), dict(source="image"), dict(k=0), dict(k=12.5), dict(n=-4),
    dict(num_bp_iter=0), dict(coding="none", modulation="16qam", k=510),
    dict(modulation="64qam", n=1024), dict(k=1024, n=1024), dict(k=8, n=16),
    dict(k=100, n=1000), dict(source="text"), dict(source="text", text=b""),
    dict(text=b"abc"), dict(k=True), dict(source="text", text=123),
])
def test_bad_arguments_raise_value_error(kw):
    with pytest.raises(ValueError):
        BitsSystem(**kw)


def test_contract_describe_and_registry():
    sys_ = get_system("bits", modulation="64qam", k=600, n=1200, source="text", text=b"hello")
    assert isinstance(sys_, System)
    assert (sys_.name, sys_.task, sys_.dataset, sys_.metrics) == ("bits", "bits", "text",
                                                                  ("ber", "bler"))
    assert sys_.symbols_per_sample() == 200
    d = sys_.describe()
    assert json.loads(json.dumps(d)) == d
    assert d["k"] == 600 and d["n"] == 1200 and d["coderate"] == 0.5 and d["text_bytes"] == 5
    assert "hello" not in json.dumps(d)
    un = BitsSystem(modulation="qpsk", coding="none", k=100, n=999).describe()
    assert un["n"] == 100 and "num_bp_iter" not in un
    assert BitsSystem(modulation="qpsk", coding="none", k=100).symbols_per_sample() == 50
    with pytest.raises(ValueError, match="bad parameters"):
        get_system("bits", bp_iters=3)


def test_runs_in_the_engine_with_points_stopping_early():
    # uncoded QPSK, 64 bits/block; 0 dB reaches 200 bit errors in the first
    # batch and stops, so later batches see a sliced (fewer-SNR) channel output
    from simulations.engine import StopRule, run_sweep
    sys_ = BitsSystem(modulation="qpsk", coding="none", k=64)
    rows = run_sweep(sys_, channels.get("rayleigh"), [0.0, 20.0], batch_size=50,
                     stop=StopRule(max_samples=200, target_errors=200), seed=3, progress=False)
    by = {(r["snr_db"], r["metric"]): r for r in rows}
    assert by[(0.0, "ber")]["num_samples"] == 50 and by[(20.0, "ber")]["num_samples"] == 200
    assert by[(0.0, "ber")]["num_trials"] == 50 * 64
    assert by[(0.0, "ber")]["value"] > by[(20.0, "ber")]["value"]
    assert by[(0.0, "bler")]["num_trials"] == 50
    assert by[(0.0, "ber")]["channel_uses_per_sample"] == 32
