"""TaiChi checkpoints: a folder of safetensors + JSON, never pickle.

Layout::

    <dir>/config.json         the TaiChiConfig (or a DeepSCConfig, ``"family": "deepsc"``,
                              for the baselines of :mod:`tokcom.baselines`)
    <dir>/model.safetensors   weights (all of them for ``tiny``; for presets whose base LM
                              comes from a package or a local path only the trainable parts:
                              vision towers, BAN, projector, channel codec and LoRA tensors,
                              as LLaVA keeps projector and LoRA weights apart)
    <dir>/tokenizer/          the tokenizer (trained BPE, or the LM's own)
    <dir>/meta.json           free-form training metadata (stage, step, SNR policy, seed)

Loading rebuilds the model from the config and checks every stored tensor's
name and shape against it; a mismatch or a corrupted file raises ``ValueError``
naming the file and the offending tensors.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .channel_coding import set_noise_floor_from_policy
from .config import TaiChiConfig

__all__ = ["save_checkpoint", "load_checkpoint", "read_meta", "stored_state", "load_pretrained_parts",
           "base_lm_external", "load_checkpoint_tokenizer"]

WEIGHTS = "model.safetensors"
#: the parts that play the design's pretrained weights (see load_pretrained_parts)
PRETRAINED_PARTS = ("lr_tower", "hr_tower", "llm")


def base_lm_external(cfg) -> bool:
    """Whether the LM's base weights come from a package or a local folder (not stored in a
    checkpoint; such an LM learns only through LoRA adapters, in every training stage)."""
    return isinstance(cfg, TaiChiConfig) and cfg.llm.source != "scratch"


def stored_state(model: torch.nn.Module, cfg: TaiChiConfig) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint stores (see module docstring)."""
    state = model.state_dict()
    if base_lm_external(cfg):
        state = {k: v for k, v in state.items() if not k.startswith("llm.") or "lora_" in k}
    # safetensors refuses shared storage (tied embeddings): store contiguous copies
    return {k: v.detach().contiguous().clone() for k, v in state.items()}


def save_checkpoint(model: torch.nn.Module, tokenizer, cfg: TaiChiConfig, path: str | Path,
                    meta: dict | None = None) -> Path:
    """Write the checkpoint files (each replaced atomically) into folder ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_file(stored_state(model, cfg), str(tmp / WEIGHTS), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        (tmp / "meta.json").write_text(json.dumps(meta or {}, indent=2, default=str) + "\n")
        tokenizer.save_pretrained(str(tmp / "tokenizer"))
        if getattr(model, "lora_config", None):
            (tmp / "lora.json").write_text(json.dumps(model.lora_config, indent=2) + "\n")
        # move each checkpoint file in atomically; other files in the folder (training log,
        # resumable state) are kept
        path.mkdir(parents=True, exist_ok=True)
        for name in (WEIGHTS, "config.json", "meta.json", "lora.json", "tokenizer"):
            src, dst = tmp / name, path / name
            if dst.is_dir() and src.exists():
                shutil.rmtree(dst)
            if src.exists():
                os.replace(src, dst)
            elif dst.exists() and name == "lora.json":
                dst.unlink()
        shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_meta(path: str | Path) -> dict:
    p = Path(path) / "meta.json"
    return json.loads(p.read_text()) if p.exists() else {}


def _load_tokenizer(path: Path, cfg):
    if getattr(cfg, "tokenizer", "train") == "train":
        from .text import load_tokenizer
        return load_tokenizer(path / "tokenizer")
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(path / "tokenizer"), local_files_only=True)


def _read_config(path: Path):
    """``config.json`` as a TaiChiConfig, or a DeepSCConfig for ``"family": "deepsc"``."""
    try:
        raw = json.loads((path / "config.json").read_text())
        if isinstance(raw, dict) and raw.get("family") == "deepsc":
            from .baselines import DeepSCConfig
            return DeepSCConfig.from_dict(raw)
        return TaiChiConfig.from_dict(raw)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"{path / 'config.json'}: {e}") from None


def load_checkpoint_tokenizer(path: str | Path):
    """The tokenizer stored in checkpoint folder ``path``."""
    path = Path(path)
    return _load_tokenizer(path, _read_config(path))


def load_checkpoint(path: str | Path, *, device: torch.device | str = "cpu"):
    """Rebuild ``(model, tokenizer, config)`` from a checkpoint folder."""
    from .factory import create_taichi

    path = Path(path)
    if not (path / "config.json").exists() or not (path / WEIGHTS).exists():
        raise FileNotFoundError(f"not a TaiChi checkpoint: {path} needs config.json and {WEIGHTS}")
    cfg = _read_config(path)
    tokenizer = _load_tokenizer(path, cfg)
    if isinstance(cfg, TaiChiConfig):
        model, tokenizer, cfg = create_taichi(cfg, tokenizer=tokenizer, device="cpu")
    else:
        from .baselines import build_baseline
        model = build_baseline(cfg, tokenizer)
    if (path / "lora.json").exists():
        from .lora import apply_lora
        apply_lora(model, json.loads((path / "lora.json").read_text()))
    try:
        stored = load_file(str(path / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"corrupted checkpoint weights {path / WEIGHTS}: {e}") from None
    expected = stored_state(model, cfg)
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    shapes = sorted(k for k in set(stored) & set(expected) if stored[k].shape != expected[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(f"checkpoint {path / WEIGHTS} does not match its config: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}, "
                         f"shape mismatch {[(k, tuple(stored[k].shape), tuple(expected[k].shape)) for k in shapes[:5]]}")
    model.load_state_dict(stored, strict=False)
    set_noise_floor_from_policy(model, read_meta(path).get("snr_policy"))
    return model.to(device), tokenizer, cfg


def load_pretrained_parts(model: torch.nn.Module, path: str | Path,
                          parts: tuple[str, ...] = PRETRAINED_PARTS) -> list[str]:
    """Copy the *pretrained* parts of checkpoint ``path`` into ``model`` (in place).

    The vision towers and the language model's base weights (LoRA adapters
    dropped, not merged) play the role of the design's pretrained CLIP/ConvNeXt
    towers and LLM; the connector (BAN, projector) and the channel codec of
    ``model`` keep their fresh initialisation. Used for the ablations and the
    single-encoder baseline, which swap the connector and retrain it. A part that
    ``model`` does not have (no HR tower without BAN) is skipped.
    Returns the names of the parts copied. The model must use the checkpoint's
    tokenizer (same vocabulary).
    """
    src, _tok, _cfg = load_checkpoint(path)
    lm = src.llm.lm
    if hasattr(lm, "peft_config"):
        src.llm.lm = lm.unload()          # drop the adapters, keep the base weights
    done = []
    for name in parts:
        dst_part, src_part = getattr(model, name, None), getattr(src, name, None)
        if dst_part is None or src_part is None:
            continue
        try:
            dst_part.load_state_dict(src_part.state_dict())
        except RuntimeError as e:
            raise ValueError(f"pretrained part {name!r} of {path} does not fit the model: "
                             f"{str(e).splitlines()[0]}") from None
        done.append(name)
    return done
