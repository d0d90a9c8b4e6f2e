"""TaiChi as a system of the sweep engine (``--system taichi``).

The transmitter runs once per batch (vision towers, BAN, projector, the first
K LLM layers, channel encoder); the receiver runs per SNR point on the
channel output only (equaliser, channel decoder, remaining LLM layers,
greedy decoding with a KV cache). Accuracy is exact match after
:func:`tokcom.tasks.normalize_answer`. Examples are drawn uniformly with
replacement from the evaluation split by the batch's data generator.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from channels.base import ChannelOutput
from simulations.system import Tally
from tokcom.checkpoint import read_meta
from tokcom.collate import collate
from tokcom.prompts import decode_answers
from tokcom.tasks import exact_match

__all__ = ["TaiChiSystem", "build_taichi_system", "eval_dataset"]


class TaiChiSystem:
    """Wrap a TaiChi model, its tokenizer and an evaluation dataset.

    Args:
        model, tokenizer, cfg: from :func:`tokcom.factory.create_taichi`.
        dataset: a :class:`tokcom.data.ExampleDataset` of one task.
        dataset_name: its registry name (recorded in results).
        name: system name in the results (``taichi``, ``taichi-noban``, ...).
        describe_extra: checkpoint provenance for the results sidecar.
    """

    metrics = ("accuracy",)

    def __init__(self, model, tokenizer, cfg, dataset, *, dataset_name: str, name: str = "taichi",
                 device: torch.device | str = "cpu", describe_extra: dict | None = None) -> None:
        if len(dataset) == 0:
            raise ValueError("the evaluation dataset is empty")
        self.model = model.eval()
        self.tokenizer, self.cfg, self.data = tokenizer, cfg, dataset
        self.name, self.dataset = name, dataset_name     # ``dataset``: the name in result rows
        self.task = dataset[0].task
        self.device = torch.device(device)
        self._extra = describe_extra or {}

    def sample(self, batch_size: int, generator: torch.Generator) -> dict:
        idx = torch.randint(len(self.data), (batch_size,), generator=generator,
                            device=generator.device).tolist()
        return collate([self.data[i] for i in idx], self.tokenizer,
                       num_image_tokens=self.model.num_visual_tokens,
                       max_prompt_tokens=self.cfg.max_prompt_tokens,
                       max_answer_tokens=self.cfg.max_answer_tokens,
                       short=self.cfg.short_instructions, device=self.device)

    def transmit(self, batch: dict) -> torch.Tensor:
        return self.model.transmit(batch["prompt_ids"], batch["images"])

    def receive(self, out: ChannelOutput, batch: dict | None = None) -> list[list[str]]:
        """Answers per SNR point: uses ``out`` and the receiver's weights only (never ``batch``)."""
        lead = out.y.shape[:-1]                                    # (S, B)
        flat = ChannelOutput(*(t.reshape(-1, t.shape[-1]) if t.dim() == out.y.dim() else t
                               for t in (out.y, out.h, out.no, out.err_var)))
        z_hat = self.model.receive_states(flat)                    # (S*B, P, D)
        ids = self.model.generate(z_hat, self.cfg.max_answer_tokens, self.tokenizer.eos_token_id)
        text = decode_answers(self.tokenizer, ids)
        b = lead[-1]
        return [text[i * b:(i + 1) * b] for i in range(len(text) // b)]

    def score(self, estimate: list[list[str]], batch: dict) -> dict[str, Tally]:
        gold = batch["answers"]
        wrong = [sum(not exact_match(p, g) for p, g in zip(preds, gold)) for preds in estimate]
        return {"accuracy": Tally(torch.tensor(wrong), len(gold), kind="accuracy")}

    def symbols_per_sample(self) -> int:
        return self.cfg.max_prompt_tokens * self.cfg.symbols_per_token

    def describe(self) -> dict:
        return {"name": self.name, "preset": self.cfg.name, "task": self.task,
                "dataset": self.dataset, "eval_size": len(self.data), "symbols_per_token": self.cfg.symbols_per_token,
                "max_prompt_tokens": self.cfg.max_prompt_tokens, **self._extra}


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


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


#: the trained default shipped in the repository (``python -m tokcom.train --preset tiny``)
SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "taichi-tiny"


def build_taichi_system(*, checkpoint: str | None = None, preset: str | None = None,
                        dataset: str | None = None, split: str = "test", num_examples: int = 500,
                        data_root: str | None = None, device: torch.device | str = "cpu",
                        name: str = "taichi", task: str | None = None) -> TaiChiSystem:
    """The registry entry: a checkpoint (or an untrained preset) plus an evaluation set."""
    from tokcom.factory import create_taichi

    extra: dict = {}
    if checkpoint is None and preset is None and SHIPPED_CHECKPOINT.exists():
        checkpoint = str(SHIPPED_CHECKPOINT)
    if checkpoint:
        ck = Path(checkpoint)
        if not ck.exists():
            raise ValueError(f"checkpoint folder not found: {ck}")
        model, tok, cfg = create_taichi(checkpoint=ck, device=device)
        meta = read_meta(ck)
        extra = {"checkpoint": str(ck), "checkpoint_sha256": _sha(ck / "model.safetensors"),
                 "training_snr_policy": meta.get("snr_policy"), "trained_stage": meta.get("stage")}
    else:
        model, tok, cfg = create_taichi(preset or "tiny", device=device)
        extra = {"checkpoint": None, "note": "untrained preset"}
    dataset = dataset or {"classify": "synthetic_sentiment"}.get(task or "", "clevr_gen")
    ds = eval_dataset(dataset, split, num_examples, data_root)
    if task is not None and len(ds) and ds[0].task != task:
        raise ValueError(f"dataset {dataset!r} is a {ds[0].task!r} dataset, not {task!r}")
    return TaiChiSystem(model, tok, cfg, ds, dataset_name=dataset, name=name, device=device,
                        describe_extra=extra)
