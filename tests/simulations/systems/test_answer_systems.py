"""The question-answering systems behind the engine: DeepSC family, TaiChi variants, bits-taichi."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch

import channels
from simulations import systems
from simulations.engine import StopRule, run_sweep
from simulations.systems.bits_taichi import jpeg_bytes
from tokcom.train import main as train_main

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tokcom"))
from conftest import small_config  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[3] / "checkpoints" / "taichi-tiny"


@pytest.fixture(scope="module")
def u_deepsc(tmp_path_factory):
    """A (barely trained) small unified DeepSC checkpoint."""
    from tokcom.baselines import load_baseline_config
    d = load_baseline_config("u-deepsc").to_dict()
    d.update(dim=32, heads=2, enc_layers=1, dec_layers=1, text_len=24, answers={})
    root = tmp_path_factory.mktemp("u")
    (root / "u.json").write_text(json.dumps(d))
    out = root / "ck"
    assert train_main(["--preset", str(root / "u.json"), "--stages", "e2e", "--steps", "e2e=2",
                       "--out", str(out), "--mix", "clevr_gen:1,synthetic_sentiment:1",
                       "--num-images", "8", "--num-sentences", "8", "--batch-size", "4",
                       "--eval-examples", "2", "--no-progress"]) == 0
    return out


def test_registry_names_every_system_and_rejects_unknown_ones():
    for n in ("bits", "taichi", "taichi-joint", "taichi-separate", "taichi-vlm", "taichi-noban",
              "taichi-mlp", "mobilevlm", "deepsc", "t-deepsc", "u-deepsc", "deepsc-vqa",
              "bits-taichi"):
        assert n in systems.names()
    with pytest.raises(ValueError, match="unknown system 'deepsc2'"):
        systems.get("deepsc2")


@pytest.mark.parametrize("dataset, split", [("synthetic_sentiment", "val"), ("clevr_gen", "test")])
def test_unified_deepsc_runs_a_sweep_with_its_budget_in_every_row(u_deepsc, dataset, split):
    s = systems.get("u-deepsc", checkpoint=str(u_deepsc), dataset=dataset, split=split,
                    num_examples=12)
    rows = run_sweep(s, channels.get("rayleigh"), [0.0, 20.0], batch_size=6,
                     stop=StopRule(max_samples=12), seed=0, progress=False)
    acc = [r for r in rows if r["metric"] == "accuracy"]
    assert [r["snr_db"] for r in acc] == [0.0, 20.0] and all(r["num_samples"] == 12 for r in acc)
    if dataset == "clevr_gen":   # questions that need the HR image, and the others
        for snr in (0.0, 20.0):
            by = {r["metric"]: r for r in rows if r["snr_db"] == snr}
            assert set(by) == {"accuracy", "accuracy_hr", "accuracy_lr"}
            assert by["accuracy_hr"]["num_trials"] + by["accuracy_lr"]["num_trials"] == 12
            assert by["accuracy_hr"]["num_errors"] + by["accuracy_lr"]["num_errors"] == \
                by["accuracy"]["num_errors"]
    else:
        assert len(rows) == 2
    budget = s.symbols_per_sample()
    assert budget == (24 + (36 if dataset == "clevr_gen" else 0)) * (4 if dataset == "clevr_gen" else 7)
    assert s.describe()["trained_stage"] == "e2e"


def test_deepsc_systems_refuse_a_task_they_do_not_serve_and_missing_checkpoints(u_deepsc, tmp_path):
    with pytest.raises(ValueError, match="serves"):
        systems.get("deepsc-vqa", checkpoint=str(u_deepsc), dataset="synthetic_sentiment",
                    num_examples=4)
    with pytest.raises(ValueError, match="no trained checkpoint"):
        systems.get("deepsc", checkpoint=str(tmp_path / "nothing"), num_examples=4)


def _small_taichi_checkpoint(root: Path, stages: str, steps: str, mix: str) -> Path:
    """A (barely trained) small TaiChi checkpoint in ``root/ck``."""
    cfg = root / "c.json"
    cfg.write_text(json.dumps(small_config(max_prompt_tokens=128).to_dict()))
    out = root / "ck"
    assert train_main(["--preset", str(cfg), "--stages", stages, "--steps", steps, "--out", str(out),
                       "--mix", mix, "--num-images", "8", "--batch-size", "2",
                       "--eval-examples", "2", "--no-progress"]) == 0
    return out


def test_sft_checkpoint_sends_token_states_unchanged_over_the_error_free_channel(tmp_path):
    out = _small_taichi_checkpoint(tmp_path, "1a", "1a=1", "clevr_gen:1")
    s = systems.get("taichi-vlm", checkpoint=str(out), dataset="clevr_gen", num_examples=6)
    assert type(s.model.channel_encoder).__name__ == "IdentityEncoder"
    assert "error-free channel only" in s.describe()["channel_coding"]
    batch = s.sample(6, torch.Generator().manual_seed(0))
    out_ = channels.get("none")(s.transmit(batch).unsqueeze(0), torch.zeros(1, 6))
    got = s.receive(out_, batch)[0]
    z = s.model.token_states(batch["prompt_ids"], batch["images"])
    from tokcom.prompts import decode_answers
    direct = decode_answers(s.tokenizer, s.model.generate(z, s.cfg.max_answer_tokens,
                                                          s.tokenizer.eos_token_id))
    assert got == direct


def test_jpeg_source_coder_respects_its_budget():
    img = torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(0))
    assert len(jpeg_bytes(img, 3000)) <= 3000
    assert len(jpeg_bytes(img, 3000)) > len(jpeg_bytes(img, 1800))
    with pytest.raises(ValueError, match="does not fit"):
        jpeg_bytes(img, 200)


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="shipped checkpoint missing")
def test_bits_taichi_delivers_the_payload_bit_exactly_at_high_snr_and_degrades_at_low():
    s = systems.get("bits-taichi", dataset="clevr_gen", num_examples=8, image_bytes=1536,
                    modulation="qpsk")
    assert s.num_blocks == math.ceil((1536 + 192) * 8 / 512)           # image + question bytes
    assert s.symbols_per_sample() == s.num_blocks * 512
    batch = s.sample(3, torch.Generator().manual_seed(0))
    x = s.transmit(batch)
    assert x.shape == (3, s.symbols_per_sample())
    g = torch.Generator().manual_seed(0)
    out = channels.get("awgn")(x.unsqueeze(0).expand(2, -1, -1), torch.tensor([[30.0], [-10.0]]),
                               generator=g)
    per = s._per_block(out)                                       # noqa: SLF001
    bits = s.bits.receive(per, None)                              # (2, 3, nb, k)
    assert torch.equal(bits[0], batch["bits"])
    assert (bits[1] != batch["bits"]).float().mean() > 0.1
    answers = s.receive(out, batch)
    assert len(answers) == 2 and all(len(a) == 3 for a in answers)
    assert s.score(answers, batch)["accuracy"].errors.shape == (2,)


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="shipped checkpoint missing")
def test_results_name_the_checkpoint_relative_to_the_repository():
    """The same results file is the same configuration in every clone (path-independent)."""
    s = systems.get("taichi", dataset="easy_vqa", num_examples=4)
    assert s.describe()["checkpoint"] == "checkpoints/taichi-tiny"


def test_results_of_the_generated_questions_name_their_generator_version(u_deepsc):
    """A results file of CLEVR-style questions records the generator's version, so a sweep
    never resumes rows of another version's questions; other sets add no key."""
    from tokcom.data.clevr_gen import CLEVRStyle
    vqa = systems.get("u-deepsc", checkpoint=str(u_deepsc), dataset="clevr_gen", num_examples=4)
    assert vqa.describe()["dataset_version"] == CLEVRStyle.version == 2
    text = systems.get("u-deepsc", checkpoint=str(u_deepsc), dataset="synthetic_sentiment",
                       split="val", num_examples=4)
    assert "dataset_version" not in text.describe()
    assert CLEVRStyle("test", 2, task="caption").version is None


def test_captioning_trains_and_sweeps_with_an_object_level_score(tmp_path):
    out = _small_taichi_checkpoint(tmp_path, "0,2", "0=3,2=2", "clevr_caption:1,clevr_gen:1")
    assert "clevr_caption" in json.loads((out / "meta.json").read_text())["error_free_accuracy_quick"]
    s = systems.get("taichi", checkpoint=str(out), task="caption", num_examples=6)
    assert s.dataset == "clevr_caption" and s.metrics == ("object_accuracy", "accuracy")
    batch = s.sample(3, torch.Generator().manual_seed(0))
    assert batch["answer_ids"].shape[1] > s.cfg.max_answer_tokens   # captions keep their length
    rows = run_sweep(s, channels.get("awgn"), [0.0, 30.0], batch_size=3,
                     stop=StopRule(max_samples=6), seed=0, progress=False)
    obj = [r for r in rows if r["metric"] == "object_accuracy"]
    assert len(obj) == 2 and all(r["num_samples"] == 6 for r in obj)
    assert obj[0]["num_trials"] == obj[1]["num_trials"]          # the same gold objects at each SNR
    assert 6 * 3 <= obj[0]["num_trials"] <= 6 * 10               # 3-10 objects per scene
    assert all(0 <= r["num_errors"] <= r["num_trials"] for r in obj)
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in rows)
