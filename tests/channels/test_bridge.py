"""Tests for :mod:`channels.bridge`: TensorFlow channels inside the PyTorch pipeline.

Statistical checks use fixed seeds, so they are deterministic; the tolerances
are still chosen as >= 5 standard deviations of the estimator at the stated
sample size, so a change of seed does not break them.
"""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

import channels  # loads Sionna, and with it Triton, before TF (see channels.bridge._tf)
from channels.bridge import (TFChannel, TFFunction, tf_apply, tf_awgn, tf_rayleigh, tf_to_torch,
                             torch_to_tf)
from channels.snr import snr_db_to_no

tf = pytest.importorskip("tensorflow")
stats = pytest.importorskip("scipy.stats")


def qpsk(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Unit-power QPSK symbols."""
    g = torch.Generator().manual_seed(seed)
    b = torch.randint(0, 2, (*shape, 2), generator=g).float() * 2 - 1
    return torch.complex(b[..., 0], b[..., 1]) / math.sqrt(2)


def cn(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    """CN(0, 1) draws."""
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- (1) zero-copy conversion ----------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64, torch.float64, torch.complex128])
def test_round_trip_shares_memory(dtype):
    t = torch.randn(16, 33, dtype=dtype)
    x = torch_to_tf(t)
    assert x.dtype.name == str(dtype).removeprefix("torch.")  # complex stays complex in TF
    back = tf_to_torch(x)
    assert back.data_ptr() == t.data_ptr()
    assert torch.equal(back, t)
    t[3, 5] = 7  # an in-place write on the torch side is visible in TF
    assert x.numpy()[3, 5] == 7


@pytest.mark.parametrize("dtype", [tf.float32, tf.complex64])
def test_tf_to_torch_shares_memory(dtype):
    z = tf.cast(tf.random.normal([8, 5]), dtype)
    t = tf_to_torch(z)
    assert t.dtype == {tf.float32: torch.float32, tf.complex64: torch.complex64}[dtype]
    t.fill_(3)
    np.testing.assert_array_equal(z.numpy(), np.full((8, 5), 3, dtype=dtype.as_numpy_dtype))


def test_conversion_copies_when_tf_cannot_share():
    base = torch.arange(40.0).to(torch.complex64)
    sliced = base[1:]  # 8-byte offset: unaligned for TF, which would abort on it
    x = torch_to_tf(sliced)
    np.testing.assert_array_equal((x * 2).numpy(), (sliced * 2).numpy())
    nc = torch.arange(12.0).reshape(3, 4).T  # non-contiguous
    np.testing.assert_array_equal(torch_to_tf(nc).numpy(), nc.numpy())
    c = torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex64).conj()  # lazy conjugate bit
    np.testing.assert_array_equal(torch_to_tf(c).numpy(), np.array([1 - 2j, 3 + 4j], np.complex64))
    r = torch.ones(3, requires_grad=True)
    assert torch_to_tf(r).shape == (3,)


# -- (2) AWGN statistics ---------------------------------------------------------
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_tf_awgn_matches_torch_awgn(snr_db):
    # 65,536 complex noise samples: std of the |n|^2 mean is 0.4 % of N0, of a
    # real-part variance 0.55 %; tolerance 3 % (>5 sigma). Mean: 0.4 % sqrt(N0), tol 2 %.
    x = qpsk((64, 1024), seed=1)
    no = float(snr_db_to_no(snr_db))
    variances = {}
    for name, ch in {"bridge": TFChannel(tf_awgn), "torch": channels.get("awgn")}.items():
        out = ch(x, snr_db, generator=gen(2))
        n = out.y - x
        variances[name] = n.abs().square().mean().item()
        assert abs(variances[name] / no - 1) < 0.03, name
        assert abs(n.real.var().item() / (no / 2) - 1) < 0.03, name  # circular: N0/2 per part
        assert abs(n.imag.var().item() / (no / 2) - 1) < 0.03, name
        assert abs(n.mean().item()) < 0.02 * math.sqrt(no), name
        assert torch.equal(out.h, torch.ones_like(x))
        torch.testing.assert_close(out.no.expand_as(x), torch.full(x.shape, no))
        assert float(out.err_var) == 0.0
    assert abs(variances["bridge"] / variances["torch"] - 1) < 0.04


# -- (3) Rayleigh statistics -----------------------------------------------------
def test_tf_rayleigh_matches_torch_rayleigh():
    # 20,000 examples of 16 symbols at 10 dB: std of the E|h|^2 and E|y|^2
    # estimates ~0.7 %; tolerance 0.05 absolute. KS tests pass at p > 1e-3.
    x = qpsk((20000, 16), seed=3)
    snr_db = 10.0
    no = float(snr_db_to_no(snr_db))
    gains = {}
    for name, ch in {"bridge": TFChannel(tf_rayleigh), "torch": channels.get("rayleigh")}.items():
        out = ch(x, snr_db, generator=gen(4))
        h = out.h
        assert torch.equal(h, h[:, :1].expand_as(h)), name  # one draw per example
        g = h[:, 0]
        p = g.abs().square()
        gains[name] = p.numpy()
        assert abs(p.mean().item() - 1) < 0.05, name
        assert abs((g * g).mean().abs().item()) < 0.05, name  # circular: E[h^2] = 0
        assert abs(out.y.abs().square().mean().item() - (1 + no)) < 0.05, name
        n = out.y - h * x  # 320,000 noise samples
        assert abs(n.abs().square().mean().item() / no - 1) < 0.03, name
        assert stats.kstest(gains[name], "expon").pvalue > 1e-3, name  # |h|^2 ~ Exp(1)
    assert stats.ks_2samp(gains["bridge"], gains["torch"]).pvalue > 1e-3


# -- (4) gradients equal torch autograd's ---------------------------------------
def _loss_abs2(y: torch.Tensor) -> torch.Tensor:
    return y.abs().square().sum()


def _loss_complex(y: torch.Tensor) -> torch.Tensor:
    # depends on y, y^2 and conj(y) (non-holomorphic), and on |y|
    c = cn(y.shape, seed=10)
    d = cn(y.shape, seed=11)
    return (c * y * y).real.sum() + (y.conj() * d).imag.sum() + y.abs().sum()


def _affine_tf(x, h, n):
    return h * x + n


@pytest.mark.parametrize("loss", [_loss_abs2, _loss_complex])
def test_gradient_matches_torch_autograd(loss):
    x0, h0, n = cn((8, 32), 20), cn((8, 32), 21), 0.3 * cn((8, 32), 22)
    x_b, h_b = x0.clone().requires_grad_(), h0.clone().requires_grad_()
    loss(tf_apply(_affine_tf, x_b, h_b, n)).backward()
    x_t, h_t = x0.clone().requires_grad_(), h0.clone().requires_grad_()
    loss(h_t * x_t + n).backward()
    torch.testing.assert_close(x_b.grad, x_t.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h_b.grad, h_t.grad, rtol=1e-5, atol=1e-5)


def test_gradient_of_loss_computed_in_tf():
    # complex input -> real TF output, and a tuple of outputs
    x0, h, n, c = cn((4, 16), 30), cn((4, 16), 31), cn((4, 16), 32), cn((4, 16), 33)

    def fn(x, h, n, c):
        y = h * x + n
        return tf.reduce_sum(tf.math.real(c * tf.math.conj(y)) ** 2), y

    x_b = x0.clone().requires_grad_()
    loss_b, y_b = tf_apply(fn, x_b, h, n, c)
    (loss_b + y_b.imag.sum()).backward()
    x_t = x0.clone().requires_grad_()
    y_t = h * x_t + n
    ((c * y_t.conj()).real.square().sum() + y_t.imag.sum()).backward()
    torch.testing.assert_close(x_b.grad, x_t.grad, rtol=1e-5, atol=1e-5)


def test_gradcheck_complex_non_holomorphic():
    # finite differences on both Wirtinger parts, complex128
    n = cn((3, 4), 40, torch.complex128)
    x = cn((3, 4), 41, torch.complex128).requires_grad_()
    h = cn((3, 4), 42, torch.complex128).requires_grad_()

    def fn(x, h):
        return h * x + tf.math.conj(x) * n.numpy() + tf.complex(tf.abs(x) ** 2, tf.zeros_like(
            tf.abs(x)))

    # gradcheck backpropagates through one graph many times: persistent tape
    assert torch.autograd.gradcheck(lambda a, b: tf_apply(fn, a, b, persistent=True), (x, h))


# -- (5) gradients through the noisy channels ------------------------------------
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
@pytest.mark.parametrize("kind", ["awgn", "rayleigh"])
def test_channel_gradients_match_torch_channels(kind, snr_db):
    x0, c = qpsk((16, 64), 50), cn((16, 64), 51)
    tf_fn = {"awgn": tf_awgn, "rayleigh": tf_rayleigh}[kind]
    for name, ch in {"bridge": TFChannel(tf_fn), "torch": channels.get(kind)}.items():
        # L = sum Re(y c*) = sum Re(h x c*): dL/dx = conj(h) c, whatever the noise
        x = x0.clone().requires_grad_()
        out = ch(x, snr_db, generator=gen(52))
        (out.y * c.conj()).real.sum().backward()
        torch.testing.assert_close(x.grad, out.h.conj() * c, rtol=1e-5, atol=1e-6, msg=name)
        # L = sum |y|^2: dL/dx = 2 conj(h) y -- holds only if backward used the
        # forward pass's noise and fading samples
        x = x0.clone().requires_grad_()
        out = ch(x, snr_db, generator=gen(53))
        out.y.abs().square().sum().backward()
        torch.testing.assert_close(x.grad, 2 * out.h.conj() * out.y.detach(), rtol=1e-5,
                                   atol=1e-5, msg=name)


def test_unseeded_tf_draws_are_reused_in_backward():
    x = qpsk((4, 256), 60).requires_grad_()
    out = TFChannel(tf_rayleigh)(x, 0.0)  # TF's global RNG
    out.y.abs().square().sum().backward()
    torch.testing.assert_close(x.grad, 2 * out.h.conj() * out.y.detach(), rtol=1e-5, atol=1e-5)


# -- channel contract, reproducibility --------------------------------------------
def test_channel_contract_and_reproducibility():
    ch = TFChannel(tf_rayleigh)
    x = qpsk((3, 2, 8), 70)
    snr = torch.tensor([[0.0, 10.0]] * 3)  # per-example SNR
    a, b = ch(x, snr, generator=gen(71)), ch(x, snr, generator=gen(71))
    assert torch.equal(a.y, b.y) and torch.equal(a.h, b.h)
    assert not torch.equal(a.y, ch(x, snr, generator=gen(72)).y)
    assert a.y.shape == a.h.shape == x.shape and a.no.shape == (3, 2, 1)
    torch.testing.assert_close(a.no[0, 1, 0], snr_db_to_no(10.0))
    assert ch.channel_uses(8) == 8
    assert ch.describe() == {"name": "tf:tf_rayleigh", "framework": "tensorflow",
                             "tf_fn": "tf_rayleigh"}
    x64 = x.to(torch.complex128)
    out = ch(x64, 5.0, generator=gen(73))
    assert out.y.dtype == torch.complex128 and out.no.dtype == torch.float64
    with torch.no_grad():
        assert not ch(x.requires_grad_(), 5.0).y.requires_grad


def test_example_channels_in_plain_tf_with_tf_generator():
    x = tf.complex(tf.ones([2, 8]), tf.zeros([2, 8]))
    y1, h1 = tf_rayleigh(x, 0.1, seed=tf.random.Generator.from_seed(5))
    y2, h2 = tf_rayleigh(x, 0.1, seed=tf.random.Generator.from_seed(5))
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    assert h1.shape == x.shape
    np.testing.assert_array_equal(tf_awgn(x, 0.1, seed=[1, 2]).numpy(),
                                  tf_awgn(x, 0.1, seed=[1, 2]).numpy())


def test_unseeded_fn_with_generator_warns():
    def keras_like(x, no, **kwargs):  # like a Keras layer / Sionna 1.x block call
        assert not kwargs  # `seed` goes only to an explicit `seed` parameter
        return x

    ch = TFChannel(keras_like)
    with pytest.warns(UserWarning, match="seed"):
        out = ch(qpsk((2, 4), 80), 10.0, generator=gen(0))
    assert torch.equal(out.y, qpsk((2, 4), 80))
    ch = TFChannel(lambda x, no, **kw: tf_awgn(x, no, **kw), seeded=True)
    torch.testing.assert_close(ch(qpsk((2, 4), 80), 10.0, generator=gen(1)).y,
                               ch(qpsk((2, 4), 80), 10.0, generator=gen(1)).y)


# -- (6) errors ------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    ch = TFChannel(tf_awgn)
    with pytest.raises(TypeError, match="complex"):
        ch(torch.ones(2, 4), 10.0)
    with pytest.raises(TypeError, match="callable"):
        TFChannel("awgn")
    x = qpsk((2, 4), 90)
    with pytest.raises(ValueError, match="shape"):
        TFChannel(lambda x, no: x[..., :2])(x, 10.0)
    with pytest.raises(ValueError, match=r"y or \(y, h\)"):
        TFChannel(lambda x, no: (x, x, x))(x, 10.0)
    with pytest.raises(ValueError, match="not broadcastable"):
        TFChannel(lambda x, no: (x, tf.ones([3], x.dtype)))(x, 10.0)
    with pytest.raises(ValueError, match="finite"):
        ch(x, float("nan"))
    with pytest.raises(TypeError, match="functools.partial"):
        tf_apply(tf_awgn, x, 0.1)
    with pytest.raises(ValueError, match="DLPack"):
        torch_to_tf(torch.zeros(3).to(torch.float8_e4m3fn))
    with pytest.raises(ValueError, match="dense"):
        torch_to_tf(torch.ones(3).to_sparse())
    with pytest.raises(TypeError):
        torch_to_tf(np.ones(3))
    with pytest.raises(TypeError):
        tf_to_torch(torch.ones(3))


def test_missing_tensorflow_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # makes `import tensorflow` fail
    with pytest.raises(ImportError, match=r"pip install -e \.\[tf\]"):
        torch_to_tf(torch.ones(3))


def test_second_backward_needs_persistent_tape():
    x = cn((4,), 100).requires_grad_()
    loss = tf_apply(lambda z: z * z, x).abs().sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="persistent=True"):
        loss.backward()
    x.grad = None
    loss = tf_apply(lambda z: z * z, x, persistent=True).abs().sum()
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()
    torch.testing.assert_close(x.grad, 2 * first)


def test_in_place_change_before_backward_is_caught():
    x = cn((4,), 110).requires_grad_()
    y = tf_apply(tf.exp, x)  # TF's exp gradient reuses its output buffer
    y.mul_(2)
    with pytest.raises(RuntimeError, match="inplace"):
        y.abs().sum().backward()
    (out,) = TFFunction.apply(tf.exp, None, False, x)  # the raw Function returns a tuple
    torch.testing.assert_close(out, torch.exp(x.detach()))
