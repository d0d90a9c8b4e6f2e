"""The DeepSC-family baselines as systems of the sweep engine.

``--system deepsc | t-deepsc | u-deepsc | deepsc-vqa`` (models in
:mod:`tokcom.baselines`). ``t-deepsc`` is task-specific: it loads the
checkpoint trained for the evaluation dataset's task
(``checkpoints/baselines/t-deepsc-vqa`` or ``...-classify``); ``u-deepsc`` is
one checkpoint for both tasks. The transmitter sends the semantic features of
the question (and image) as ``symbols_per_sample`` complex symbols; the
receiver answers from the channel output alone (the task is known to both
ends by protocol).
"""
from __future__ import annotations

from pathlib import Path

import torch

from channels.base import ChannelOutput
from tokcom.checkpoint import load_checkpoint, read_meta

from .answers import AnswerSystem, checkpoint_label, file_sha

__all__ = ["DeepSCSystem", "build_deepsc_system", "BASELINE_CHECKPOINTS", "DEEPSC_SYSTEMS"]

BASELINE_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints" / "baselines"
#: system name -> the tasks it serves
DEEPSC_SYSTEMS = {"deepsc": ("classify",), "t-deepsc": ("vqa", "classify"),
                  "u-deepsc": ("vqa", "classify"), "deepsc-vqa": ("vqa",)}


class DeepSCSystem(AnswerSystem):
    """A trained :class:`tokcom.baselines.DeepSC` model over an evaluation dataset."""

    def __init__(self, model, tokenizer, dataset, *, dataset_name: str, name: str,
                 device: torch.device | str = "cpu", describe_extra: dict | None = None) -> None:
        super().__init__(dataset, dataset_name=dataset_name, name=name, device=device,
                         describe_extra=describe_extra)
        if self.task not in model.cfg.tasks:
            raise ValueError(f"{name} ({model.cfg.name}) serves tasks {model.cfg.tasks}, "
                             f"not the {self.task!r} dataset {dataset_name!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer

    def collate(self, examples: list) -> dict:
        return self.model.collate(examples, self.tokenizer, self.device)

    @torch.no_grad()
    def transmit(self, batch: dict) -> torch.Tensor:
        return self.model.transmit(batch["text_ids"], batch["images"], self.task)

    @torch.no_grad()
    def answers(self, out: ChannelOutput, batch: dict | None = None) -> list[str]:
        return self.model.answer(out, self.task)

    def symbols_per_sample(self) -> int:
        return self.model.symbols_per_sample(self.task)

    def describe(self) -> dict:
        c = self.model.cfg
        return {"name": self.name, "preset": c.name, "task": self.task, "dataset": self.dataset,
                "eval_size": len(self.data), "symbols_per_token": c.symbols_per_token[self.task],
                "tokens_per_sample": self.model.num_tokens(self.task), 
                "decoder_noise_floor": getattr(self.model.channel_decoder, "noise_floor", None),
                **({"metrics": list(self.metrics)} if self.split_by_resolution else {}),
                **self._extra}


def build_deepsc_system(name: str, *, checkpoint: str | None = None, dataset: str | None = None,
                        split: str = "test", num_examples: int = 500, data_root: str | None = None,
                        device: torch.device | str = "cpu", task: str | None = None) -> DeepSCSystem:
    """The registry entry of ``name`` (one of :data:`DEEPSC_SYSTEMS`)."""
    from .taichi import eval_dataset

    if name not in DEEPSC_SYSTEMS:
        raise ValueError(f"unknown DeepSC system {name!r}; valid: {', '.join(DEEPSC_SYSTEMS)}")
    serves = DEEPSC_SYSTEMS[name]
    dataset = dataset or {"classify": "synthetic_sentiment"}.get(task or serves[0], "clevr_gen")
    ds = eval_dataset(dataset, split, num_examples, data_root)
    ds_task = ds[0].task
    if ds_task not in serves or (task is not None and task != ds_task):
        raise ValueError(f"system {name!r} serves {list(serves)}; dataset {dataset!r} is {ds_task!r}")
    if checkpoint is None:
        folder = f"t-deepsc-{ds_task}" if name == "t-deepsc" else name
        checkpoint = str(BASELINE_CHECKPOINTS / folder)
    ck = Path(checkpoint)
    if not (ck / "config.json").exists():
        raise ValueError(f"{name}: no trained checkpoint at {ck} (train it with python -m tokcom.train "
                         f"--preset {ck.name} --stages e2e --out {ck})")
    model, tok, _cfg = load_checkpoint(ck, device=device)
    meta = read_meta(ck)
    extra = {"checkpoint": checkpoint_label(ck), "checkpoint_sha256": file_sha(ck / "model.safetensors"),
             "training_snr_policy": meta.get("snr_policy"), "trained_stage": meta.get("stage"),
             "train_steps": meta.get("steps"), "batch_size": meta.get("batch_size")}
    return DeepSCSystem(model, tok, ds, dataset_name=dataset, name=name, device=device,
                        describe_extra=extra)
