"""TaiChi as a system of the sweep engine (``--system taichi``).

The transmitter runs once per batch (vision towers, BAN, projector, the first
K LLM layers, channel encoder); the receiver runs per SNR point on the
channel output only (equaliser, channel decoder, remaining LLM layers,
greedy decoding with a KV cache). Accuracy is exact match after
:func:`tokcom.tasks.normalize_answer`. Examples are drawn uniformly with
replacement from the evaluation split by the batch's data generator.
"""
from __future__ import annotations

from pathlib import Path

import torch

from channels.base import ChannelOutput
from tokcom.checkpoint import read_meta
from tokcom.collate import collate
from tokcom.prompts import decode_answers

from .answers import AnswerSystem, checkpoint_label, file_sha

__all__ = ["TaiChiSystem", "build_taichi_system", "eval_dataset", "TAICHI_SYSTEMS"]


class TaiChiSystem(AnswerSystem):
    """Wrap a TaiChi model, its tokenizer and an evaluation dataset.

    Args:
        model, tokenizer, cfg: from :func:`tokcom.factory.create_taichi`.
        dataset: a :class:`tokcom.data.ExampleDataset` of one task.
        dataset_name: its registry name (recorded in results).
        name: system name in the results (``taichi``, ``taichi-noban``, ...).
        describe_extra: checkpoint provenance for the results sidecar.
    """

    def __init__(self, model, tokenizer, cfg, dataset, *, dataset_name: str, name: str = "taichi",
                 device: torch.device | str = "cpu", describe_extra: dict | None = None) -> None:
        super().__init__(dataset, dataset_name=dataset_name, name=name, device=device,
                         describe_extra=describe_extra)
        self.model = model.eval()
        self.tokenizer, self.cfg = tokenizer, cfg

    def collate(self, examples: list) -> dict:
        return collate(examples, self.tokenizer, num_image_tokens=self.model.num_visual_tokens,
                       max_prompt_tokens=self.cfg.max_prompt_tokens,
                       max_answer_tokens=self.cfg.max_answer_tokens,
                       short=self.cfg.short_instructions, device=self.device)

    def transmit(self, batch: dict) -> torch.Tensor:
        return self.model.transmit(batch["prompt_ids"], batch["images"])

    def answers(self, out: ChannelOutput, batch: dict | None = None) -> list[str]:
        """Equaliser, channel decoder, remaining LLM layers, greedy decoding (never reads ``batch``)."""
        z_hat = self.model.receive_states(out)                     # (S*B, P, D)
        ids = self.model.generate(z_hat, self.cfg.max_answer_tokens, self.tokenizer.eos_token_id)
        return decode_answers(self.tokenizer, ids)

    def symbols_per_sample(self) -> int:
        return self.cfg.max_prompt_tokens * self.model.channel_encoder.symbols_per_token

    def describe(self) -> dict:
        return {"name": self.name, "preset": self.cfg.name, "task": self.task,
                "dataset": self.dataset, "eval_size": len(self.data),
                "symbols_per_token": self.model.channel_encoder.symbols_per_token,
                "max_prompt_tokens": self.cfg.max_prompt_tokens, 
                "decoder_noise_floor": getattr(self.model.channel_decoder, "noise_floor", None),
                **({"metrics": list(self.metrics)} if self.split_by_resolution else {}),
                **self._extra}


def eval_dataset(name: str, split: str, num_examples: int, root: str | None = None,
                 seed: int = 0):
    """An evaluation set by registry name with the sizes a sweep needs."""
    from tokcom.data import get_dataset
    if name == "clevr_gen":
        return get_dataset(name, split, num_images=num_examples, questions_per_image=1, seed=seed)
    if name == "clevr_gen_cogent":
        return get_dataset("clevr_gen", split, num_images=num_examples, questions_per_image=1,
                           seed=seed, cogent="B")
    if name == "synthetic_sentiment":
        return get_dataset(name, split, num_examples=num_examples, seed=seed)
    if name == "easy_vqa":
        return get_dataset(name, split)
    if root is None:
        raise ValueError(f"dataset {name!r} reads files you already have: pass --data-root")
    return get_dataset(name, split, root=root)


_ROOT = Path(__file__).resolve().parents[2]
#: the trained default shipped in the repository (``python -m tokcom.train --preset tiny``)
SHIPPED_CHECKPOINT = _ROOT / "checkpoints" / "taichi-tiny"
#: registry names of the TaiChi-architecture systems -> their default checkpoint.
#: ``variants/``: the connector (BAN, projector) retrained on the shipped checkpoint's towers and
#: LM (``python -m tokcom.train --pretrained checkpoints/taichi-tiny ...``, see the README):
#: ``taichi-vlm``/``-noban``/``-mlp`` stop after SFT (Table III), ``taichi-joint`` and
#: ``taichi-separate`` continue ``taichi-vlm`` with joint (stage 2) or separate (2sep) channel
#: coding (Fig. 12), ``mobilevlm`` is the single-encoder system (ViT + LDP, stages 1a-2).
TAICHI_SYSTEMS: dict[str, Path] = {
    "taichi": SHIPPED_CHECKPOINT,
    "taichi-joint": _ROOT / "checkpoints" / "variants" / "taichi-joint",
    "taichi-separate": _ROOT / "checkpoints" / "variants" / "taichi-separate",
    "taichi-vlm": _ROOT / "checkpoints" / "variants" / "taichi-vlm",
    "taichi-noban": _ROOT / "checkpoints" / "variants" / "taichi-noban-vlm",
    "taichi-mlp": _ROOT / "checkpoints" / "variants" / "taichi-mlp-vlm",
    "mobilevlm": _ROOT / "checkpoints" / "variants" / "mobilevlm",
}
#: stages after which a checkpoint has no trained channel codec
VLM_STAGES = ("0", "1a", "1b")


def build_taichi_system(*, checkpoint: str | None = None, preset: str | None = None,
                        dataset: str | None = None, split: str = "test", num_examples: int = 500,
                        data_root: str | None = None, device: torch.device | str = "cpu",
                        name: str = "taichi", task: str | None = None) -> TaiChiSystem:
    """The registry entry: a checkpoint (or an untrained preset) plus an evaluation set.

    Without ``checkpoint`` and ``preset`` the system's default checkpoint of
    :data:`TAICHI_SYSTEMS` is used. A checkpoint trained only up to SFT
    (stages 0-1b) has no trained channel codec: its token states are sent as
    symbols unchanged (:class:`tokcom.channel_coding.IdentityEncoder`), which
    is meaningful over the error-free channel only (``--channel none``).
    """
    from tokcom.channel_coding import IdentityDecoder, IdentityEncoder
    from tokcom.factory import create_taichi

    if name not in TAICHI_SYSTEMS:
        raise ValueError(f"unknown TaiChi system {name!r}; valid: {', '.join(TAICHI_SYSTEMS)}")
    extra: dict = {}
    if checkpoint is None and preset is None:
        checkpoint = str(TAICHI_SYSTEMS[name])
        if not Path(checkpoint).exists():
            raise ValueError(f"{name}: no trained checkpoint at {checkpoint} (see the README for the "
                             "command that trains it)")
    if checkpoint:
        ck = Path(checkpoint)
        if not ck.exists():
            raise ValueError(f"checkpoint folder not found: {ck}")
        model, tok, cfg = create_taichi(checkpoint=ck, device=device)
        meta = read_meta(ck)
        extra = {"checkpoint": checkpoint_label(ck), "checkpoint_sha256": file_sha(ck / "model.safetensors"),
                 "training_snr_policy": meta.get("snr_policy"), "trained_stage": meta.get("stage")}
        if meta.get("stage") in VLM_STAGES:
            d = model.llm.lm.config.hidden_size
            model.channel_encoder, model.channel_decoder = IdentityEncoder(d), IdentityDecoder(d)
            extra["training_snr_policy"] = None
            extra["channel_coding"] = ("identity: an SFT-stage checkpoint sends its token states "
                                       "unchanged; meaningful over the error-free channel only")
    else:
        model, tok, cfg = create_taichi(preset or "tiny", device=device)
        extra = {"checkpoint": None, "note": "untrained preset"}
    dataset = dataset or {"classify": "synthetic_sentiment"}.get(task or "", "clevr_gen")
    ds = eval_dataset(dataset, split, num_examples, data_root)
    if task is not None and len(ds) and ds[0].task != task:
        raise ValueError(f"dataset {dataset!r} is a {ds[0].task!r} dataset, not {task!r}")
    return TaiChiSystem(model, tok, cfg, ds, dataset_name=dataset, name=name, device=device,
                        describe_extra=extra)
