"""Run a channel written in TensorFlow inside the PyTorch pipeline (DLPack bridge).

A user's existing TensorFlow channel (for example a Sionna 1.x-style function
``y = channel(x, no)``) becomes a tokcom :class:`~channels.base.Channel`::

    from channels.bridge import TFChannel, tf_rayleigh
    ch = TFChannel(tf_rayleigh)                      # tf_fn(x, no, seed=None) -> (y, h)
    out = ch(x, snr_db=10.0, generator=g)            # ChannelOutput(y, h, no, err_var)
    loss(out.y).backward()                           # gradients flow back through TF

Tensors cross the framework boundary through DLPack, without copying; the TF
computation runs under a ``tf.GradientTape`` that is kept until PyTorch's
backward pass, so the backward pass replays *the same* noise and fading samples
(the TF function is never re-run).

Zero-copy (checked in ``tests/channels/test_bridge.py``): TensorFlow 2.20's
DLPack accepts every strided torch dtype it has an equivalent for -- float16,
bfloat16, float32, float64, complex64, complex128, the integer types and bool --
so complex tensors cross as complex (no float-pair view is needed). A
torch -> TF conversion shares memory when the tensor is contiguous, 64-byte
aligned (TF's Eigen kernels abort the process on unaligned buffers, so sliced
tensors such as ``t[1:]`` are copied first) and carries no lazy conjugate or
negative bit (DLPack has no such flag: passing one as is would silently drop
the conjugation). Everything TF allocates is dense and aligned, so
TF -> torch always shares memory.

Complex gradients: PyTorch and TensorFlow use the *same* convention. For a real
loss L of z = a + jb both report ``dL/da + j dL/db`` (= 2 dL/dz*, the conjugate
Wirtinger derivative), and both propagate an incoming complex cotangent the
same way through holomorphic and non-holomorphic ops, so gradients pass the
bridge unchanged (no conjugation). JAX differs: its ``grad`` returns the
conjugate of this, which a future JAX bridge would have to undo.

Devices: DLPack keeps tensors where they are, so CUDA tensors stay on the GPU
on both sides (a GPU build of TF is needed; the TF function runs under
``tf.device`` of its first input). The two frameworks use different CUDA
streams, so the bridge synchronises torch's current stream before TF reads a
tensor and TF's devices before torch reads TF's outputs. Only the CPU path is
tested here (``tensorflow-cpu``).

TensorFlow is an optional extra (``pip install -e .[tf]``) and is imported on
first use, never at module import.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import math
import sys
import warnings
from typing import Any, Callable

import torch

from .base import Channel, ChannelOutput
from .snr import snr_db_to_no

__all__ = [
    "torch_to_tf",
    "tf_to_torch",
    "TFFunction",
    "tf_apply",
    "TFChannel",
    "tf_awgn",
    "tf_rayleigh",
    "ZERO_COPY_DTYPES",
]

# Dtypes whose tensors cross torch -> TF -> torch without a copy (given a
# contiguous, aligned tensor); every other dtype is rejected with ValueError.
ZERO_COPY_DTYPES: tuple[torch.dtype, ...] = (
    torch.float16, torch.bfloat16, torch.float32, torch.float64,
    torch.complex64, torch.complex128,
    torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool,
)
# EIGEN_MAX_ALIGN_BYTES of TF's AVX-512 builds; smaller alignments abort TF.
_TF_ALIGN_BYTES = 64

_DIFFERENTIABLE = (torch.float16, torch.bfloat16, torch.float32, torch.float64,
                   torch.complex64, torch.complex128)


def _tf() -> Any:
    """Import TensorFlow on demand (slow to import, and an optional extra)."""
    if "tensorflow" not in sys.modules:
        # Loading Triton's native library (torch.compile, and Sionna's import of
        # it) *after* TensorFlow's segfaults the process (TF 2.20 / Triton 3.8);
        # loaded first, both coexist. Sionna has normally loaded it already.
        with contextlib.suppress(Exception):
            import triton._C.libtriton  # noqa: F401
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ImportError(
            "channels.bridge needs TensorFlow, an optional extra of tokcom; install it with "
            "`pip install -e .[tf]` (it pulls in tensorflow-cpu)") from e
    return tf


# -- tensor conversion ------------------------------------------------------
def _prepare_for_tf(t: torch.Tensor) -> torch.Tensor:
    """``t`` detached, or a copy of it where TF could not share its memory."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(t).__name__}")
    if t.layout != torch.strided:
        raise ValueError(f"only dense (strided) tensors can cross to TensorFlow, got {t.layout}")
    if t.dtype not in ZERO_COPY_DTYPES:
        raise ValueError(f"dtype {t.dtype} has no TensorFlow DLPack equivalent; "
                         f"supported: {', '.join(str(d) for d in ZERO_COPY_DTYPES)}")
    t = t.detach().resolve_conj().resolve_neg()  # DLPack has no conj/neg flag
    if not t.is_contiguous():  # TF's DLPack import rejects general strides
        t = t.contiguous()
    if t.numel() and t.data_ptr() % _TF_ALIGN_BYTES:
        t = t.clone()  # fresh allocations are 64-byte aligned (torch's CPU and CUDA allocators)
    return t


def torch_to_tf(t: torch.Tensor) -> Any:
    """A ``tf.Tensor`` sharing ``t``'s memory (see the module docstring for when it copies).

    The result does not track ``t``'s autograd history (use :class:`TFFunction`
    for gradients). Writing to ``t`` in place afterwards is visible in the TF
    tensor.
    """
    tf = _tf()
    t = _prepare_for_tf(t)
    if t.is_cuda:  # TF reads on its own stream: finish torch's pending writes first
        torch.cuda.current_stream(t.device).synchronize()
    return tf.experimental.dlpack.from_dlpack(torch.utils.dlpack.to_dlpack(t))


def tf_to_torch(t: Any) -> torch.Tensor:
    """A ``torch.Tensor`` sharing the memory of the TF tensor ``t`` (always zero-copy)."""
    tf = _tf()
    if not tf.is_tensor(t):
        raise TypeError(f"expected a TensorFlow tensor, got {type(t).__name__}")
    if isinstance(t, tf.Variable):
        t = tf.convert_to_tensor(t)
    if "GPU" in t.device.upper():  # TF's kernels run asynchronously on its own stream
        tf.test.experimental.sync_devices()
    try:
        return torch.utils.dlpack.from_dlpack(tf.experimental.dlpack.to_dlpack(t))
    except Exception as e:  # e.g. string or resource tensors
        raise ValueError(f"cannot export a TF tensor of dtype {t.dtype.name} through DLPack: {e}") \
            from None


# -- autograd ---------------------------------------------------------------
_USED = object()  # marks a non-persistent tape that a backward pass has consumed


class _Spec:
    """Filled in by :meth:`TFFunction.forward`: did ``fn`` return a single tensor?"""

    single: bool = True


class TFFunction(torch.autograd.Function):
    """``torch.autograd.Function`` whose forward runs a TensorFlow callable.

    Call through :func:`tf_apply`, or as ``TFFunction.apply(fn, None,
    persistent, *inputs)``, which always returns a tuple (the second argument
    is internal). ``fn(*tf_tensors)`` returns a TF tensor or a tuple/list of
    them; the forward pass records it on a ``tf.GradientTape``
    (only when some input needs a gradient) and backward asks that tape for the
    vector-Jacobian product, so random draws inside ``fn`` are the forward
    pass's draws. The tape is non-persistent unless ``persistent=True``, which
    a second backward through the same graph (``retain_graph=True``) needs.
    Double backward (``create_graph=True``) is not supported. Inputs and
    outputs are saved for backward, so modifying them in place before backward
    raises PyTorch's usual version-counter error instead of corrupting the
    values TF's tape refers to.
    """

    @staticmethod
    def forward(ctx: Any, fn: Callable[..., Any], spec: _Spec | None, persistent: bool,
                *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        tf = _tf()
        tf_inputs = [torch_to_tf(t) for t in inputs]
        needs = [bool(n) and t.dtype in _DIFFERENTIABLE
                 for n, t in zip(ctx.needs_input_grad[3:], inputs)]
        tape = None
        # run on the inputs' device, not TF's default one (which may be a GPU)
        place = tf.device(tf_inputs[0].device) if tf_inputs else contextlib.nullcontext()
        with place:
            if any(needs):
                tape = tf.GradientTape(persistent=persistent, watch_accessed_variables=False)
                with tape:
                    for w, x in zip(needs, tf_inputs):
                        if w:
                            tape.watch(x)
                    raw = fn(*tf_inputs)
            else:  # inference: no tape, no saved activations
                raw = fn(*tf_inputs)
        single = not isinstance(raw, (tuple, list))
        if spec is not None:
            spec.single = single
        tf_outputs = [tf.convert_to_tensor(o) for o in ([raw] if single else raw)]
        if not tf_outputs:
            raise ValueError("the TF function returned no tensors")
        outputs = tuple(tf_to_torch(o) for o in tf_outputs)
        ctx.set_materialize_grads(False)  # unused outputs get None, and are skipped
        diff = [o.dtype in _DIFFERENTIABLE for o in outputs]
        ctx.mark_non_differentiable(*(o for o, d in zip(outputs, diff) if not d))
        ctx.tape, ctx.needs, ctx.persistent = tape, needs, persistent
        ctx.tf_inputs, ctx.tf_outputs, ctx.diff = tf_inputs, tf_outputs, diff
        ctx.save_for_backward(*inputs, *outputs)  # only for the in-place-modification check
        return outputs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, *grads: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        tf = _tf()
        _ = ctx.saved_tensors  # raises if an input or output was modified in place
        none = (None, None, None)
        if ctx.tape is None:
            return (*none, *(None for _ in ctx.needs))
        if ctx.tape is _USED:
            raise RuntimeError("this TF call's gradient tape was already used by a backward pass; "
                               "to backpropagate through it twice, use "
                               "tf_apply(..., persistent=True)")
        targets, cotangents = [], []
        for g, out, d in zip(grads, ctx.tf_outputs, ctx.diff):
            if g is not None and d:
                targets.append(out)
                cotangents.append(torch_to_tf(g.to(_torch_dtype(out))))
        sources = [x for x, w in zip(ctx.tf_inputs, ctx.needs) if w]
        if not targets:
            tf_grads = [None] * len(sources)
        else:
            # same complex convention in both frameworks: cotangents pass unchanged
            tf_grads = ctx.tape.gradient(targets, sources, output_gradients=cotangents)
        it = iter(tf_grads)
        result = [_grad_to_torch(tf, next(it)) if w else None for w in ctx.needs]
        if not ctx.persistent:  # free TF's activations now, not when the graph goes
            ctx.tape = _USED
            ctx.tf_inputs = ctx.tf_outputs = None
        return (*none, *result)


def _torch_dtype(tf_tensor: Any) -> torch.dtype:
    return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
            "float64": torch.float64, "complex64": torch.complex64,
            "complex128": torch.complex128}[tf_tensor.dtype.name]


def _grad_to_torch(tf: Any, g: Any) -> torch.Tensor | None:
    if g is None:  # input not connected to any output that received a gradient
        return None
    if isinstance(g, tf.IndexedSlices):  # gather-style ops return sparse gradients
        g = tf.convert_to_tensor(g)
    return tf_to_torch(g)


def tf_apply(fn: Callable[..., Any], *inputs: torch.Tensor,
             persistent: bool = False) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """``fn(*tf_inputs)`` evaluated in TensorFlow, differentiable from PyTorch.

    Args:
        fn: a TF callable (eager function or ``tf.function``) taking one TF
            tensor per torch input and returning a TF tensor or a tuple/list
            of them. Bind non-tensor arguments with ``functools.partial``.
        *inputs: torch tensors (any device; they reach TF without a copy).
        persistent: keep the TF tape alive for more than one backward pass.

    Returns:
        A torch tensor (or a tuple, if ``fn`` returned a tuple/list) sharing
        memory with TF's outputs.

    Example:
        >>> import torch, tensorflow as tf
        >>> x = torch.tensor([1 + 2j, 3 - 1j], dtype=torch.complex64, requires_grad=True)
        >>> y = tf_apply(lambda z: tf.math.real(z * tf.math.conj(z)), x)   # |x|^2 in TF
        >>> y.sum().backward()
        >>> x.grad                                                          # 2x
        tensor([2.+4.j, 6.-2.j])
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking TF tensors, got {type(fn).__name__}")
    for i, t in enumerate(inputs):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"input {i} is a {type(t).__name__}, not a torch.Tensor; "
                            "bind non-tensor arguments with functools.partial")
    spec = _Spec()
    outputs = TFFunction.apply(fn, spec, bool(persistent), *inputs)
    return outputs[0] if spec.single else tuple(outputs)


# -- the channel ----------------------------------------------------------------
def _accepts_seed(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins, some tf.function wrappers
        return False
    # an explicit parameter only: layers that forward **kwargs (Keras, Sionna 1.x
    # blocks) would pass an unknown ``seed`` on and fail
    return "seed" in params


class TFChannel(Channel):
    """A TensorFlow channel function as a tokcom :class:`~channels.base.Channel`.

    Args:
        tf_fn: ``tf_fn(x, no) -> y`` or ``tf_fn(x, no) -> (y, h)``, optionally
            with a ``seed=`` keyword. ``x`` is ``tf.complex64`` (``complex128``
            for double-precision inputs) of shape ``[..., N]`` (last axis =
            the symbols of one example); ``no`` is the real noise power N0 of
            shape ``[..., 1]`` (broadcastable to ``x``); ``y`` has ``x``'s
            shape and dtype; ``h``, the receiver's CSI, is broadcastable to
            it. Without ``h`` the receiver gets ``h = 1``. The CSI error
            variance is reported as 0 (perfect CSI).
        name: the name :meth:`describe` reports (default ``"tf:<function name>"``).
        persistent: keep the TF tape for several backward passes (see
            :class:`TFFunction`).
        seeded: whether to pass ``seed=``; by default, when ``tf_fn``'s
            signature has an explicit ``seed`` parameter.

    Randomness: when ``tf_fn`` takes ``seed`` and the call gets a
    ``generator``, two int64 values drawn from that generator are passed as a
    ``seed`` tensor of shape ``[2]`` (for TF's stateless ops), so one torch
    seed fixes the TF draws too. Otherwise the TF function draws from its own
    RNG (a warning says so if a generator was given).

    Example:
        >>> ch = TFChannel(tf_awgn)
        >>> out = ch(torch.ones(2, 8, dtype=torch.complex64), 10.0,
        ...          generator=torch.Generator().manual_seed(0))
        >>> out.y.shape, out.h.shape
        (torch.Size([2, 8]), torch.Size([2, 8]))
    """

    def __init__(self, tf_fn: Callable[..., Any], *, name: str | None = None,
                 persistent: bool = False, seeded: bool | None = None) -> None:
        super().__init__()
        if not callable(tf_fn):
            raise TypeError(f"tf_fn must be a callable (x, no) -> y or (y, h), "
                            f"got {type(tf_fn).__name__}")
        self.tf_fn = tf_fn
        self.fn_name = getattr(tf_fn, "__name__", type(tf_fn).__name__)
        self.name = name or f"tf:{self.fn_name}"
        self.persistent = bool(persistent)
        self.seeded = _accepts_seed(tf_fn) if seeded is None else bool(seeded)
        self._warned = False

    def describe(self) -> dict:
        return {"name": self.name, "framework": "tensorflow", "tf_fn": self.fn_name}

    def _bound_fn(self, generator: torch.Generator | None) -> Callable[..., Any]:
        if generator is None:
            return self.tf_fn
        if not self.seeded:
            if not self._warned:
                warnings.warn(f"{self.fn_name} takes no `seed` argument: its TF random draws "
                              "do not follow the torch generator", stacklevel=2)
                self._warned = True
            return self.tf_fn
        tf = _tf()
        s = torch.randint(0, 2**62, (2,), generator=generator, device=generator.device)
        return functools.partial(self.tf_fn, seed=tf.constant(s.tolist(), dtype=tf.int64))

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor | float,
                generator: torch.Generator | None = None) -> ChannelOutput:
        if not torch.is_complex(x):
            raise TypeError(f"channel input must be complex baseband symbols, got {x.dtype}")
        if x.dim() < 1:
            raise ValueError("channel input needs a last (symbol) dimension, got a scalar")
        batch = x.shape[:-1]
        real = torch.float64 if x.dtype == torch.complex128 else torch.float32
        no = snr_db_to_no(snr_db, dtype=real, device=x.device)
        no = torch.broadcast_to(no, batch).unsqueeze(-1).contiguous()  # (..., 1)
        out = tf_apply(self._bound_fn(generator), x, no, persistent=self.persistent)
        outs = (out,) if isinstance(out, torch.Tensor) else out
        if len(outs) not in (1, 2):
            raise ValueError(f"{self.fn_name} must return y or (y, h), got {len(outs)} tensors")
        y = outs[0]
        if y.shape != x.shape or y.dtype != x.dtype:
            raise ValueError(f"{self.fn_name} returned y of shape {tuple(y.shape)} and dtype "
                             f"{y.dtype}; expected {tuple(x.shape)} and {x.dtype}")
        if len(outs) == 2:
            try:
                h = torch.broadcast_to(outs[1].to(x.dtype), x.shape)
            except RuntimeError:
                raise ValueError(f"{self.fn_name} returned h of shape {tuple(outs[1].shape)}, "
                                 f"not broadcastable to {tuple(x.shape)}") from None
        else:
            h = torch.ones_like(x)
        return ChannelOutput(y=y, h=h, no=no, err_var=torch.zeros((), dtype=real, device=x.device))


# -- example TF channels (plain TensorFlow) -------------------------------------
def _tf_normal(tf: Any, shape: Any, dtype: Any, seed: Any) -> Any:
    """N(0, 1) draws: stateless from a ``[2]`` seed, from a ``tf.random.Generator``, or global."""
    if seed is None:
        return tf.random.normal(shape, dtype=dtype)
    if isinstance(seed, tf.random.Generator):
        return seed.normal(shape, dtype=dtype)
    return tf.random.stateless_normal(shape, seed=seed, dtype=dtype)


def _tf_split(tf: Any, seed: Any, n: int) -> list[Any]:
    """``n`` independent seeds (a Generator or ``None`` is simply reused)."""
    if seed is None or isinstance(seed, tf.random.Generator):
        return [seed] * n
    return list(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), n))


def _tf_cn(tf: Any, shape: Any, cdtype: Any, seed: Any) -> Any:
    """CN(0, 1): independent N(0, 1/2) real and imaginary parts."""
    rdtype = cdtype.real_dtype
    z = _tf_normal(tf, tf.concat([[2], shape], 0), rdtype, seed)
    return tf.complex(z[0], z[1]) * tf.cast(math.sqrt(0.5), cdtype)


def tf_awgn(x: Any, no: Any, seed: Any = None) -> Any:
    """AWGN in plain TensorFlow: ``y = x + n``, ``n ~ CN(0, no)``.

    Args:
        x: complex TF tensor ``[..., N]``.
        no: noise power N0, real, broadcastable to ``x``.
        seed: ``None`` (TF's global RNG), an int ``[2]`` seed for TF's
            stateless ops, or a ``tf.random.Generator``.
    """
    tf = _tf()
    x = tf.convert_to_tensor(x)
    n = _tf_cn(tf, tf.shape(x), x.dtype, seed)
    return x + tf.cast(tf.sqrt(tf.cast(no, x.dtype.real_dtype)), x.dtype) * n


def tf_rayleigh(x: Any, no: Any, seed: Any = None) -> tuple[Any, Any]:
    """Rayleigh block fading in plain TensorFlow, one ``h ~ CN(0, 1)`` per example.

    ``y = h x + n`` with ``h`` constant over the last axis (the symbols of one
    example) and ``n ~ CN(0, no)``. Returns ``(y, h)``, ``h`` broadcast to
    ``x``'s shape (perfect CSI). ``seed`` as in :func:`tf_awgn`.
    """
    tf = _tf()
    x = tf.convert_to_tensor(x)
    seed_h, seed_n = _tf_split(tf, seed, 2)
    shape = tf.shape(x)
    g = _tf_cn(tf, tf.concat([shape[:-1], [1]], 0), x.dtype, seed_h)  # [..., 1]
    h = tf.broadcast_to(g, shape)
    y = h * x + tf_awgn(tf.zeros_like(x), no, seed=seed_n)
    return y, h
