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
from tokcom.collate import collate_for
from tokcom.prompts import decode_answers
from tokcom.stages import stage_base

from . import TAICHI_CHECKPOINTS, repo_path
from .answers import AnswerSystem, checkpoint_provenance, eval_dataset, evaluation_set

__all__ = ["TaiChiSystem", "build_taichi_system", "eval_dataset", "SHIPPED_CHECKPOINT"]


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
        return collate_for(self.model, self.tokenizer, self.cfg, examples, self.device)

    def transmit(self, batch: dict) -> torch.Tensor:
        return self.model.transmit(batch["prompt_ids"], batch["images"])

    def answers(self, out: ChannelOutput, batch: dict | None = None) -> list[str]:
        """Equaliser, channel decoder, remaining LLM layers, greedy decoding (never reads ``batch``)."""
        z_hat = self.model.receive_states(out)                     # (S*B, P, D)
        ids = self.model.generate(z_hat, self.cfg.answer_tokens(self.task), self.tokenizer.eos_token_id)
        return decode_answers(self.tokenizer, ids)

    def symbols_per_sample(self) -> int:
        return self.cfg.max_prompt_tokens * self.model.channel_encoder.symbols_per_token

    def describe_system(self) -> dict:
        return {"preset": self.cfg.name,
                "symbols_per_token": self.model.channel_encoder.symbols_per_token,
                "max_prompt_tokens": self.cfg.max_prompt_tokens,
                "decoder_noise_floor": getattr(self.model.channel_decoder, "noise_floor", None)}


#: the trained default shipped in the repository (``python -m tokcom.train --preset tiny``)
SHIPPED_CHECKPOINT = repo_path(TAICHI_CHECKPOINTS["taichi"])
#: stages after which a checkpoint has no trained channel codec
VLM_STAGES = ("0", "1a", "1b")


def build_taichi_system(*, checkpoint: str | None = None, preset: str | None = None,
                        dataset: str | None = None, split: str = "test", num_examples: int = 500,
                        data_root: str | None = None, device: torch.device | str = "cpu",
                        name: str = "taichi", task: str | None = None) -> TaiChiSystem:
    """The registry entry: a checkpoint (or an untrained preset) plus an evaluation set.

    Without ``checkpoint`` and ``preset`` the system's default checkpoint of
    :data:`simulations.systems.TAICHI_CHECKPOINTS` is used. A checkpoint trained only up to SFT
    (stages 0-1b) has no trained channel codec: its token states are sent as
    symbols unchanged (:class:`tokcom.channel_coding.IdentityEncoder`), which
    is meaningful over the error-free channel only (``--channel none``).
    """
    from tokcom.channel_coding import IdentityDecoder, IdentityEncoder
    from tokcom.factory import create_taichi

    if name not in TAICHI_CHECKPOINTS:
        raise ValueError(f"unknown TaiChi system {name!r}; valid: {', '.join(TAICHI_CHECKPOINTS)}")
    if checkpoint is None and preset is None:
        checkpoint = str(repo_path(TAICHI_CHECKPOINTS[name]))
        if not Path(checkpoint).exists():
            raise ValueError(f"{name}: no trained checkpoint at {checkpoint} (see the README for the "
                             "command that trains it)")
    if checkpoint:
        ck = Path(checkpoint)
        if not ck.exists():
            raise ValueError(f"checkpoint folder not found: {ck}")
        model, tok, cfg = create_taichi(checkpoint=ck, device=device)
        extra = checkpoint_provenance(ck)
        if stage_base(read_meta(ck).get("stage") or "2") in VLM_STAGES:
            d = model.llm.lm.config.hidden_size
            model.channel_encoder, model.channel_decoder = IdentityEncoder(d), IdentityDecoder(d)
            extra["training_snr_policy"] = None
            extra["channel_coding"] = ("identity: an SFT-stage checkpoint sends its token states "
                                       "unchanged; meaningful over the error-free channel only")
    else:
        model, tok, cfg = create_taichi(preset or "tiny", device=device)
        extra = {"checkpoint": None, "note": "untrained preset"}
    dataset, ds = evaluation_set(dataset, task, split, num_examples, data_root)
    return TaiChiSystem(model, tok, cfg, ds, dataset_name=dataset, name=name, device=device,
                        describe_extra=extra)
