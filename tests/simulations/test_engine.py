"""Engine: one transmitter pass per batch, stopping rules, determinism, resume."""
from __future__ import annotations

import math

import pytest
import torch

import channels
from simulations.engine import StopRule, batch_seed, run_sweep
from simulations.results import ResultStore, ResultsMismatch
from simulations.system import Tally


class UncodedQPSK:
    """A minimal pure-torch system: Gray QPSK, ZF, hard decisions (counts calls)."""

    name, task, dataset, metrics = "qpsk-test", "bits", "random", ("ber", "bler")

    def __init__(self, k: int = 32):
        self.k = k
        self.transmit_calls = 0
        self.receive_shapes: list[tuple] = []

    def sample(self, batch_size, generator):
        return torch.randint(0, 2, (batch_size, self.k), generator=generator).float()

    def transmit(self, bits):
        self.transmit_calls += 1
        s = (1 - 2 * bits) / math.sqrt(2)
        return torch.complex(s[:, 0::2], s[:, 1::2])

    def receive(self, out, bits):
        self.receive_shapes.append(tuple(out.y.shape))
        z = out.y / out.h
        b = torch.stack([(z.real < 0).float(), (z.imag < 0).float()], dim=-1)
        return b.reshape(*z.shape[:-1], self.k)

    def score(self, est, bits):
        err = (est != bits).float()
        per = err.sum(dim=2)
        return {"ber": Tally(err.sum(dim=(1, 2)), bits.numel(), errors_sq=per.square().sum(dim=1)),
                "bler": Tally(err.amax(dim=2).sum(dim=1), bits.shape[0])}

    def symbols_per_sample(self):
        return self.k // 2

    def describe(self):
        return {"name": self.name, "k": self.k}


def _qfunc(x):
    return 0.5 * math.erfc(x / math.sqrt(2))


def test_transmitter_runs_once_per_batch_for_all_snr_points():
    sys_ = UncodedQPSK()
    rows = run_sweep(sys_, channels.get("awgn"), [0, 2, 4, 6, 8], batch_size=50,
                     stop=StopRule(max_samples=200), seed=1, progress=False)
    assert sys_.transmit_calls == 4            # 4 batches, not 4 x 5 SNR points
    assert sys_.receive_shapes[0][0] == 5      # receiver batched over the 5 points
    assert len(rows) == 10 and {r["num_samples"] for r in rows} == {200}


def test_ber_matches_theory_within_ci():
    rows = run_sweep(UncodedQPSK(64), channels.get("awgn"), [0.0, 4.0], batch_size=500,
                     stop=StopRule(max_samples=3000), seed=3, progress=False)
    for r in (r for r in rows if r["metric"] == "ber"):
        theory = _qfunc(math.sqrt(10 ** (r["snr_db"] / 10)))
        assert r["ci_low"] <= theory <= r["ci_high"], r


def test_target_errors_stops_low_snr_points_early():
    rows = run_sweep(UncodedQPSK(), channels.get("awgn"), [0.0, 12.0], batch_size=20,
                     stop=StopRule(max_samples=2000, target_errors=100), seed=0, progress=False)
    n = {r["snr_db"]: r["num_samples"] for r in rows if r["metric"] == "ber"}
    assert n[0.0] <= 40 and n[12.0] == 2000


def test_target_ci_rule():
    rule = StopRule(max_samples=10_000, target_ci=0.01)
    assert not rule.done(100, 50, 100, "wilson")
    assert rule.done(20_000 // 2, 500, 10_000, "wilson") is True


@pytest.mark.parametrize("kw", [dict(max_samples=0), dict(min_samples=-1),
                                dict(min_samples=5, max_samples=4), dict(target_errors=0),
                                dict(target_ci=1.5)])
def test_bad_stop_rules(kw):
    with pytest.raises(ValueError):
        StopRule(**kw)


@pytest.mark.parametrize("snrs", [[], [float("nan")], [1.0, 1.0]])
def test_bad_snr_lists(snrs):
    with pytest.raises(ValueError):
        run_sweep(UncodedQPSK(), channels.get("awgn"), snrs, batch_size=10,
                  stop=StopRule(max_samples=10), seed=0, progress=False)


def test_seeds_are_disjoint_and_stable():
    seeds = {batch_seed(0, b, s) for b in range(100) for s in (0, 1)}
    assert len(seeds) == 200
    assert batch_seed(7, 3, 1) == batch_seed(7, 3, 1) != batch_seed(8, 3, 1)


def _sweep(path, on_batch=None, snrs=(0, 5, 10, 15, 20)):
    store = ResultStore(path, {"case": "resume"}).open()
    return run_sweep(UncodedQPSK(), channels.get("rayleigh"), list(snrs), batch_size=40,
                     stop=StopRule(max_samples=400, target_errors=300), seed=5, store=store,
                     progress=False, on_batch=on_batch)


def test_same_command_same_csv_bytes_and_resume_after_kill(tmp_path):
    full = tmp_path / "full.csv"
    _sweep(full)

    killed = tmp_path / "killed.csv"

    def kill(b):
        if b == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _sweep(killed, on_batch=kill)
    partial = ResultStore(killed, {"case": "resume"}).open().done_snrs()
    assert 0 < len(partial) < 5                  # some points were saved before the kill
    _sweep(killed)                               # the same command continues
    assert killed.read_bytes() == full.read_bytes()
    again = tmp_path / "again.csv"
    _sweep(again)
    assert again.read_bytes() == full.read_bytes()


def test_other_configuration_is_refused_and_file_kept(tmp_path):
    path = tmp_path / "r.csv"
    _sweep(path)
    before = path.read_bytes()
    with pytest.raises(ResultsMismatch, match="different configuration"):
        ResultStore(path, {"case": "other"}).open()
    assert path.read_bytes() == before


def test_csv_without_sidecar_is_refused(tmp_path):
    path = tmp_path / "foreign.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ResultsMismatch, match="sidecar"):
        ResultStore(path, {}).open()
    assert path.read_text() == "a,b\n1,2\n"


def test_snr_chunking_gives_identical_counts():
    kw = dict(batch_size=50, stop=StopRule(max_samples=200), seed=4, progress=False)
    a = run_sweep(UncodedQPSK(), channels.get("rayleigh"), [0, 3, 6, 9, 12], **kw)
    sys_ = UncodedQPSK()
    b = run_sweep(sys_, channels.get("rayleigh"), [0, 3, 6, 9, 12], snr_chunk=2, **kw)
    assert a == b
    assert max(s[0] for s in sys_.receive_shapes) == 2 and sys_.transmit_calls == 4


def test_block_fading_ber_interval_is_cluster_robust_and_covers_theory():
    # one fade per 32-bit example: bit errors are strongly correlated within an example
    rows = run_sweep(UncodedQPSK(32), channels.get("rayleigh"), [0.0, 10.0], batch_size=500,
                     stop=StopRule(max_samples=2000), seed=8, progress=False)
    for r in (r for r in rows if r["metric"] == "ber"):
        g = 10 ** (r["snr_db"] / 10) / 2
        theory = 0.5 * (1 - math.sqrt(g / (1 + g)))
        assert r["ci_low"] <= theory <= r["ci_high"], r
        from simulations.stats import clopper_pearson_interval
        lo, hi = clopper_pearson_interval(r["num_errors"], r["num_trials"])
        assert r["ci_high"] - r["ci_low"] > 1.5 * (hi - lo)    # wider than the naive binomial
