"""The DeepSC-family baselines: configs, budgets, the link, learning, training CLI, checkpoints."""
import json

import pytest
import torch

import channels
from channels.snr import normalize_power
from tokcom.baselines import (DeepSCConfig, baseline_presets, create_baseline, is_baseline_preset,
                              load_baseline_config)
from tokcom.checkpoint import load_checkpoint
from tokcom.data.base import Example
from tokcom.text import train_bpe
from tokcom.train import main as train_main

from conftest import CORPUS


@pytest.fixture(scope="module")
def tok():
    return train_bpe(CORPUS, vocab_size=300)


def small(name: str, **over) -> DeepSCConfig:
    d = load_baseline_config(name).to_dict()
    d.update(dim=32, heads=2, enc_layers=1, dec_layers=1, text_len=12, image_size=48,
             patch_size=16, answers={"vqa": ["no", "red", "yes", "2"], "classify": ["negative", "positive"]})
    d.update(over)
    d["answers"] = {t: d["answers"][t] for t in d["tasks"]}
    return DeepSCConfig.from_dict(d)


def _examples(task, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    if task == "vqa":
        return [Example(torch.rand(3, 48, 48, generator=g), "what color is the cube", a, "vqa", {})
                for a in ["red", "yes", "no", "2", "red", "purple"][:n]]
    return [Example(None, s, lab, "classify", {}) for s, lab in
            [("the movie was not good", "negative"), ("charming cast", "positive")] * (n // 2)]


def test_presets_are_valid_and_spend_taichis_budget():
    from tokcom.config import load_config
    tiny = load_config("tiny")
    budget = tiny.max_prompt_tokens * tiny.symbols_per_token            # 336 channel uses
    assert set(baseline_presets()) == {"deepsc", "t-deepsc-classify", "t-deepsc-vqa", "u-deepsc",
                                       "deepsc-vqa"}
    for name in baseline_presets():
        cfg = load_baseline_config(name)
        model, _tok, cfg = create_baseline(cfg, tokenizer=train_bpe(CORPUS, vocab_size=300))
        for task in cfg.tasks:
            assert model.symbols_per_sample(task) == budget, (name, task)
    assert is_baseline_preset("u-deepsc") and not is_baseline_preset("tiny")


@pytest.mark.parametrize("bad, msg", [({"colour": 1}, "unknown DeepSC config keys"),
                                      ({"tasks": ["vqa"], "image_encoder": "none",
                                        "symbols_per_token": {"vqa": 4}}, "needs an image encoder"),
                                      ({"tasks": ["classify"], "symbols_per_token": {}}, "lacks a budget"),
                                      ({"tasks": ["caption"]}, "tasks must be among")])
def test_bad_configs_fail_clearly(bad, msg):
    with pytest.raises(ValueError, match=msg):
        DeepSCConfig.from_dict({"name": "x", **bad})
    with pytest.raises(ValueError, match="unknown baseline preset"):
        load_baseline_config("deepsc-9000")


@pytest.mark.parametrize("name", ["u-deepsc", "deepsc-vqa", "deepsc", "t-deepsc-vqa"])
def test_transmit_shape_power_and_receiver_uses_the_channel(name, tok):
    torch.manual_seed(0)
    model, _, cfg = create_baseline(small(name), tokenizer=tok)
    model.eval()
    task = cfg.tasks[0]
    b = model.collate(_examples(task), tok)
    x = model.transmit(b["text_ids"], b["images"], task)
    assert x.shape == (6, model.symbols_per_sample(task)) and x.is_complex()
    assert torch.allclose(x.abs().square().mean(-1), torch.ones(6), atol=1e-4)
    clean = model.answer(channels.get("none")(x, 0.0), task)
    assert clean == model.predict(b)
    # a different received signal gives a different decoded feature: the receiver reads y
    g = torch.Generator().manual_seed(1)
    noisy = channels.get("awgn")(x, -10.0, generator=g)
    f0 = model.receive_features(channels.get("none")(x, 0.0), task)
    f1 = model.receive_features(noisy, task)
    assert not torch.allclose(f0, f1)


def test_unified_model_keeps_a_per_task_budget(tok):
    model, _, cfg = create_baseline(small("u-deepsc"), tokenizer=tok)
    assert model.k_max == 7
    xv = model.transmit(*[model.collate(_examples("vqa"), tok)[k] for k in ("text_ids", "images")], "vqa")
    bc = model.collate(_examples("classify"), tok)
    xc = model.transmit(bc["text_ids"], None, "classify")
    assert xv.shape[-1] == (12 + 9) * 4 and xc.shape[-1] == 12 * 7
    # the VQA symbols are the first 4 of each token's 7, renormalised
    full = model.channel_encoder(model.features(*[model.collate(_examples("vqa"), tok)[k]
                                                  for k in ("text_ids", "images")], "vqa"))
    kept = normalize_power(full.reshape(6, -1, 7)[..., :4].reshape(6, -1))
    assert torch.allclose(kept, xv, atol=1e-6)
    with pytest.raises(ValueError, match="serves tasks"):
        create_baseline(small("deepsc"), tokenizer=tok)[0].collate(_examples("vqa"), tok)


def test_answers_outside_the_vocabulary_are_ignored_not_guessed(tok):
    model, _, _ = create_baseline(small("t-deepsc-vqa"), tokenizer=tok)
    b = model.collate(_examples("vqa"), tok)
    assert b["labels"].tolist()[-1] == -100           # "purple" is not in the small vocabulary
    assert b["labels"].tolist()[0] == 1               # "red"


@pytest.mark.parametrize("name", ["t-deepsc-classify", "deepsc"])
def test_end_to_end_training_over_awgn_fits_a_batch(name, tok):
    torch.manual_seed(0)
    model, _, _ = create_baseline(small(name), tokenizer=tok)
    b = model.collate(_examples("classify", 8), tok)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    ch = channels.get("awgn")
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(80):
        loss = model.batch_loss(b, channel=ch, snr_db=torch.full((8,), 15.0), generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
    x = model.transmit(b["text_ids"], None, "classify")
    assert model.answer(ch(x, torch.full((8,), 15.0), generator=g), "classify") == b["answers"]


def test_train_cli_stage_e2e_writes_a_loadable_baseline_checkpoint(tmp_path, tok):
    cfg = small("t-deepsc-classify", text_len=24)
    path = tmp_path / "b.json"
    path.write_text(json.dumps({k: v for k, v in cfg.to_dict().items() if k != "answers"}))
    out = tmp_path / "ck"
    args = ["--preset", str(path), "--stages", "e2e", "--steps", "e2e=3", "--out", str(out),
            "--mix", "synthetic_sentiment:1", "--num-sentences", "40", "--batch-size", "4",
            "--eval-examples", "4", "--no-progress"]
    assert train_main(args) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["stage"] == "e2e" and meta["snr_policy"]["channels"] == ["awgn", "rayleigh"]
    model, tok2, cfg2 = load_checkpoint(out)
    assert type(model).__name__ == "DeepSC" and cfg2.answers["classify"] == ["negative", "positive"]
    # a mixture with a task the baseline does not serve fails with one line
    base = ["--preset", str(path), "--stages", "e2e", "--steps", "e2e=1", "--no-progress",
            "--batch-size", "2", "--eval-examples", "2"]
    assert train_main(base + ["--out", str(tmp_path / "x"), "--mix", "clevr_gen:1",
                              "--num-images", "4"]) == 2
    assert train_main(base + ["--out", str(tmp_path / "y"), "--mix", "synthetic_sentiment:1",
                              "--pretrained", str(out)]) == 2
