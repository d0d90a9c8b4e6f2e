"""Training smoke test: every stage runs, loss falls, a killed run resumes at its step."""
import csv
import json
from pathlib import Path

import pytest
import torch

from tokcom.train import DEFAULT_STAGES, WARMUP_2SEP_STEPS, _steps, main, parse_mix

from conftest import small_config


def _log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def cfg_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "small.json"
    p.write_text(json.dumps(small_config(max_prompt_tokens=128).to_dict()))
    return str(p)


ARGS = ["--mix", "clevr_gen:1,synthetic_sentiment:1", "--num-images", "40", "--num-sentences", "40",
        "--batch-size", "8", "--eval-examples", "8", "--no-progress"]


def test_all_stages_run_loss_falls_and_checkpoint_written(tmp_path, cfg_path):
    out = tmp_path / "run"
    assert main(["--preset", cfg_path, "--out", str(out), "--stages", "0,1a,1b,2,2sep",
                 "--steps", "0=40,1a=2,1b=2,2=3,2sep=2", "--save-every", "50", *ARGS]) == 0
    rows = _log(out / "train_log.csv")
    assert [r["stage"] for r in rows].count("0") == 40
    assert {r["stage"] for r in rows} == {"0", "1a", "1b", "2", "2sep"}
    losses = [float(r["loss"]) for r in rows if r["stage"] == "0"]
    assert sum(losses[-8:]) / 8 < 0.8 * sum(losses[:4]) / 4
    assert all(float(r["grad_norm"]) > 0 for r in rows)   # the pre-clipping norm of every step
    meta = json.loads((out / "meta.json").read_text())
    assert meta["snr_policy"]["snr_db_uniform"] == [-5.0, 20.0]
    assert meta["quick_check_path"] == "channel codec, error-free channel"   # ends in a codec stage
    # the checkpoint names the trainer's commit (the tests run in a git checkout; CI clones one)
    assert meta["code"] is None or len(meta["code"]["commit"]) == 40
    assert (out / "model.safetensors").exists() and (out / "lora.json").exists()


def test_quick_check_goes_through_the_codec_only_when_asked():
    """A stage-2 checkpoint's closing figure is measured as the sweep's --channel none sends it."""
    from simulations.systems.taichi import eval_dataset
    from tokcom.factory import create_taichi
    from tokcom.train import evaluate
    torch.manual_seed(0)
    model, tok, cfg = create_taichi(small_config(max_prompt_tokens=128))
    calls = []
    model.channel_encoder.register_forward_hook(lambda *a: calls.append(1))
    held = {"synthetic_sentiment": eval_dataset("synthetic_sentiment", "test", 20)}
    evaluate(model, tok, cfg, held, 4, "cpu")
    assert not calls
    acc = evaluate(model, tok, cfg, held, 4, "cpu", through_codec=True)
    assert calls and 0.0 <= acc["synthetic_sentiment"] <= 1.0


def test_killed_run_resumes_at_its_step(tmp_path, cfg_path):
    out = tmp_path / "run"
    common = ["--preset", cfg_path, "--out", str(out), "--stages", "0", "--save-every", "3", *ARGS]
    assert main(common + ["--steps", "0=6"]) == 0
    (out / "model.safetensors").unlink()           # as if killed before the final checkpoint
    assert main(common + ["--steps", "0=9"]) == 0  # continues from the saved state at step 6
    steps = [int(r["step"]) for r in _log(out / "train_log.csv")]
    assert steps == list(range(9))                 # no step twice, none missing
    assert all(r["grad_norm"] for r in _log(out / "train_log.csv"))   # resumed rows keep the column
    assert json.loads((out / "state" / "position.json").read_text())["step"] == 9


def test_a_log_begun_without_grad_norm_keeps_its_six_columns(tmp_path, cfg_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "train_log.csv").write_text("stage,step,loss,lr,dataset,seconds\n")
    assert main(["--preset", cfg_path, "--out", str(out), "--stages", "1a", "--steps", "1a=2", *ARGS]) == 0
    lines = (out / "train_log.csv").read_text().splitlines()
    assert len(lines) == 3 and all(line.count(",") == 5 for line in lines)


def test_other_run_in_same_folder_is_refused(tmp_path, cfg_path, capsys):
    out = tmp_path / "run"
    common = ["--preset", cfg_path, "--out", str(out), "--save-every", "2", *ARGS]
    assert main(common + ["--stages", "0", "--steps", "0=2"]) == 0
    assert main(common + ["--stages", "0", "--steps", "0=2", "--seed", "5"]) == 2
    assert "another run" in capsys.readouterr().err


def test_bad_arguments():
    with pytest.raises(ValueError):
        parse_mix("a:0")
    assert main(["--out", "/tmp/x", "--stages", "3"]) == 2
    assert main(["--out", "/tmp/x", "--snr-range", "5,nan"]) == 2
    assert main(["--out", "/tmp/x", "--eval-examples", "-1"]) == 2


def test_no_closing_check_records_no_figures(tmp_path, cfg_path):
    # --eval-examples 0 (a run whose figures are measured elsewhere) must not record 0.0 accuracies
    out = tmp_path / "run"
    k = ARGS.index("--eval-examples") + 1
    args = ARGS[:k] + ["0"] + ARGS[k + 1:]
    assert main(["--preset", cfg_path, "--out", str(out), "--stages", "1a", "--steps", "1a=1", *args]) == 0
    assert json.loads((out / "meta.json").read_text())["error_free_accuracy_quick"] == {}


def test_2sep_before_2_is_a_short_warm_up_and_alone_keeps_its_budget():
    assert DEFAULT_STAGES.split(",")[-2:] == ["2sep", "2"]
    assert _steps(None, DEFAULT_STAGES.split(","))["2sep"] == WARMUP_2SEP_STEPS < _steps(None)["2sep"]
    assert _steps(None, ["2sep"])["2sep"] == _steps(None)["2sep"] == _steps(None)["2"] == 1700  # same budget
    assert _steps(None, ["2", "2sep"])["2sep"] == 1700                       # not a warm-up
    assert _steps("2sep=7", ["2sep", "2"])["2sep"] == 7                      # explicit wins
    with pytest.raises(ValueError):
        _steps("2sep=0", ["2sep", "2"])


def test_separate_codec_at_another_bandwidth(tmp_path, cfg_path):
    from tokcom.checkpoint import load_checkpoint
    vlm = tmp_path / "vlm"
    assert main(["--preset", cfg_path, "--out", str(vlm), "--stages", "1a", "--steps", "1a=1",
                 *ARGS]) == 0
    out = tmp_path / "s2"
    assert main(["--preset", cfg_path, "--init", str(vlm), "--out", str(out), "--stages", "2sep",
                 "--steps", "2sep=2", "--symbols-per-token", "2", *ARGS]) == 0
    model, _, cfg = load_checkpoint(out)
    assert cfg.symbols_per_token == 2 and model.channel_encoder.symbols_per_token == 2
    assert model.symbols_per_sample(128) == 256
    # a stage without the codec cannot change its bandwidth
    assert main(["--preset", cfg_path, "--out", str(tmp_path / "x"), "--stages", "1a",
                 "--steps", "1a=1", "--symbols-per-token", "2", *ARGS]) == 2
    # a codec with another depth of joint coding than the preset's, at the preset's bandwidth
    n = json.loads(Path(cfg_path).read_text()).get("codec_context_layers", 0) + 1
    joint = tmp_path / "s2joint"
    assert main(["--preset", cfg_path, "--init", str(vlm), "--out", str(joint), "--stages", "2sep",
                 "--steps", "2sep=2", "--codec-context", str(n), *ARGS]) == 0
    model, _, cfg = load_checkpoint(joint)
    assert cfg.codec_context_layers == n and model.channel_decoder.context is not None
    assert len(model.channel_decoder.context.layers.layers) == n
    assert json.loads((joint / "meta.json").read_text())["codec_context_layers"] == n
    for bad in (["--stages", "1a", "--steps", "1a=1", "--codec-context", str(n)],
                ["--stages", "2sep", "--steps", "2sep=1", "--codec-context", "-1"]):
        assert main(["--preset", cfg_path, "--out", str(tmp_path / "x"), *bad, *ARGS]) == 2


def test_vision_lr_scale_zero_keeps_the_towers_and_trains_the_rest(tmp_path, cfg_path):
    from safetensors.torch import load_file

    from tokcom.factory import create_taichi
    from tokcom.stages import param_groups, set_trainable
    model, _tok, _cfg = create_taichi(cfg_path)
    set_trainable(model, "0")
    groups = param_groups(model, 1e-3, 0.1, 0.5)
    assert [g["lr"] for g in groups] == [pytest.approx(1e-4), pytest.approx(5e-4), 1e-3]
    tower_ids = {id(p) for p in [*model.lr_tower.parameters(), *model.hr_tower.parameters()]}
    assert {id(p) for p in groups[0]["params"]} == tower_ids
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.ban.parameters()}
    assert sum(len(g["params"]) for g in groups) == sum(p.requires_grad for p in model.parameters())
    # scale 0 freezes the part: no gradient is computed for it, and it leaves the clipped norm
    groups = param_groups(model, 1e-3, 0.0, 0.0)
    assert len(groups) == 1 and not any(id(p) in tower_ids for p in groups[0]["params"])
    assert not any(p.requires_grad for m in (model.lr_tower, model.hr_tower, model.ban) for p in m.parameters())
    with pytest.raises(ValueError, match="vision_lr_scale"):
        param_groups(model, 1e-3, -1.0)
    with pytest.raises(ValueError, match="ban_lr_scale"):
        param_groups(model, 1e-3, 1.0, float("nan"))
    out = tmp_path / "run"
    assert main(["--preset", cfg_path, "--out", str(out), "--stages", "0", "--steps", "0=3",
                 "--vision-lr-scale", "0", *ARGS]) == 0
    got = load_file(str(out / "model.safetensors"))
    torch.manual_seed(0)
    fresh, _t, _c = create_taichi(cfg_path)
    init = fresh.state_dict()
    # the same seed builds the same initial model: towers untouched, BAN moved
    assert all(torch.equal(got[k], init[k]) for k in got if k.startswith(("lr_tower.", "hr_tower.")))
    assert any(not torch.equal(got[k], init[k]) for k in got if k.startswith("ban."))
    assert json.loads((out / "meta.json").read_text())["vision_lr_scale"] == 0.0


def test_zero_lr_parts_get_gradients_but_do_not_move(tmp_path, cfg_path):
    """--zero-scale-parts zero-lr: the older way of holding a part (a gradient, counted in the
    clipped norm, at learning rate 0): the part has a gradient after a step and keeps its weights."""
    from safetensors.torch import load_file

    from tokcom.factory import create_taichi
    from tokcom.stages import param_groups, set_trainable
    model, _tok, _cfg = create_taichi(cfg_path)
    set_trainable(model, "0")
    groups = param_groups(model, 1e-3, 0.0, 0.0, freeze_zero=False)
    assert [g["lr"] for g in groups] == [0.0, 0.0, 1e-3]
    assert all(p.requires_grad for m in (model.lr_tower, model.hr_tower, model.ban) for p in m.parameters())
    out = tmp_path / "run"
    assert main(["--preset", cfg_path, "--out", str(out), "--stages", "0", "--steps", "0=3",
                 "--vision-lr-scale", "0", "--ban-lr-scale", "0", "--zero-scale-parts", "zero-lr",
                 *ARGS]) == 0
    got = load_file(str(out / "model.safetensors"))
    torch.manual_seed(0)
    init = create_taichi(cfg_path)[0].state_dict()
    assert all(torch.equal(got[k], init[k]) for k in got if k.startswith(("lr_tower.", "hr_tower.", "ban.")))
    assert any(not torch.equal(got[k], init[k]) for k in got if k.startswith("projector."))
    assert json.loads((out / "meta.json").read_text())["zero_scale_parts"] == "zero-lr"


def test_tagged_stage_counts_and_batch_draws():
    import numpy as np

    from tokcom.train import _batch_seed
    stages = ["0", "0.yesno", "2sep", "2"]
    st = _steps("0=30", stages)
    assert st["0"] == st["0.yesno"] == 30 and st["2sep"] == WARMUP_2SEP_STEPS  # a kind reaches its tags
    st = _steps("0.yesno=5", stages)
    assert st["0.yesno"] == 5 and st["0"] == _steps(None)["0"]                  # a label only itself
    assert _steps("2sep=9", ["2sep.a", "2"])["2sep.a"] == 9                     # explicit kind wins
    assert _steps(None, ["2sep.a", "2"])["2sep.a"] == WARMUP_2SEP_STEPS
    with pytest.raises(ValueError, match="tagged"):
        _steps("7.x=3", stages)
    # untagged stages draw the batches they always drew (the shipped checkpoint's bits)
    old = int(np.random.SeedSequence([0, 0, 5]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    assert _batch_seed(0, "0", 5) == old
    assert len({_batch_seed(0, "0", 5), _batch_seed(0, "0.a", 5), _batch_seed(0, "0.b", 5)}) == 3


def test_stage_mix_gives_a_tagged_stage_its_own_data(tmp_path, cfg_path):
    out = tmp_path / "run"
    assert main(["--preset", cfg_path, "--out", str(out), "--stages", "0,0.text",
                 "--steps", "0=4,0.text=5", "--lr", "0.text=1e-4",
                 "--stage-mix", "0.text=synthetic_sentiment:1", *ARGS]) == 0
    rows = _log(out / "train_log.csv")
    assert [r["stage"] for r in rows] == ["0"] * 4 + ["0.text"] * 5
    assert {r["dataset"] for r in rows if r["stage"] == "0.text"} == {"synthetic_sentiment"}
    assert max(float(r["lr"]) for r in rows if r["stage"] == "0.text") <= 1e-4
    assert max(float(r["lr"]) for r in rows if r["stage"] == "0") > 1e-4
    meta = json.loads((out / "meta.json").read_text())
    assert meta["stage"] == "0.text" and meta["steps"] == {"0": 4, "0.text": 5}
    assert meta["stage_mix"] == {"0.text": [["synthetic_sentiment", 1.0]]}


@pytest.mark.parametrize("bad", [["--stages", "0,0"], ["--stages", "0."], ["--stages", "9.x"],
                                 ["--stages", "0", "--stage-mix", "1b=clevr_gen:1"],
                                 ["--stages", "0.a", "--stage-mix", "0.a"],
                                 ["--stages", "0", "--lr", "0=-1"]])
def test_bad_stage_labels_are_refused(tmp_path, cfg_path, bad, capsys):
    assert main(["--preset", cfg_path, "--out", str(tmp_path / "x"), *bad, *ARGS]) == 2
    assert "tokcom.train: error:" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()                     # refused before anything is written


def test_default_recipe_keeps_its_tagged_stages_mixtures_unless_mix_is_given(monkeypatch, tmp_path):
    import tokcom.train as tr
    seen = {}
    monkeypatch.setattr(tr, "train", lambda **kw: seen.update(kw) or kw["out"])
    stages = tr.DEFAULT_STAGES.split(",")
    assert main(["--out", str(tmp_path / "a")]) == 0
    assert seen["stages"] == stages and set(seen["stage_mix"]) == {k for k in tr.DEFAULT_STAGE_MIX if k in stages}
    assert "0.lm" not in stages     # measured and left out (README "Sentiment: unseen words")
    assert seen["mix"] == parse_mix(tr.DEFAULT_MIX)
    assert seen["stage_mix"]["0.yesno"] == [("easy_vqa_yesno_plain", 1.0)]
    assert seen["steps"]["0.yesno"] == tr.DEFAULT_STEPS["0.yesno"] and seen["steps"]["0"] == 2500
    assert seen["lr"]["0.yesno"] == tr.DEFAULT_LR["0.yesno"]
    # a run that names its mixture gets it in every stage it does not --stage-mix
    assert main(["--out", str(tmp_path / "b"), "--mix", "clevr_gen:1",
                 "--stage-mix", "1b=easy_vqa:1"]) == 0
    assert seen["stage_mix"] == {"1b": [("easy_vqa", 1.0)]}
    # a kind's explicit count reaches the recipe's tagged stages of that kind
    assert _steps("0=30", stages)["0.mixed"] == 30
    assert _steps(None, stages)["2sep"] == WARMUP_2SEP_STEPS
    # naming the stage in --stages brings its own mixture, steps and lr
    assert main(["--out", str(tmp_path / "c"), "--stages", "0v,0.lm,0,1a"]) == 0
    assert seen["stage_mix"]["0.lm"] == [("review_text", 1.0)] and seen["steps"]["0.lm"] == 12000


def test_learning_rates_follow_the_same_precedence_as_steps():
    from tokcom.train import DEFAULT_LR, _lrs, _per_stage
    lr = _lrs("")
    assert lr == DEFAULT_LR and _per_stage(lr, "0.yesno") == DEFAULT_LR["0.yesno"]
    assert _per_stage(lr, "0.other") == DEFAULT_LR["0"]           # an unknown tag takes its kind's
    lr = _lrs("0=3e-4")                                           # a kind reaches its tagged stages
    assert _per_stage(lr, "0.yesno") == _per_stage(lr, "0") == 3e-4
    lr = _lrs("0=3e-4,0.yesno=7e-4")                              # a label wins
    assert _per_stage(lr, "0.yesno") == 7e-4 and _per_stage(lr, "1b") == DEFAULT_LR["1b"]
    for bad in ("0=abc", "0=0", "9=1e-3"):
        with pytest.raises(ValueError):
            _lrs(bad)


def test_a_run_continued_with_init_trains_on_the_default_noise_floor(tmp_path, cfg_path, monkeypatch):
    """Loading a checkpoint floors the decoder's noise feature at the top of its training SNR range
    (for evaluation); continuing training from it must see the default floor, as the same stages in
    one run do, and the new checkpoint is floored again when loaded."""
    from tokcom.channel_coding import ChannelDecoder
    from tokcom.checkpoint import load_checkpoint
    vlm = tmp_path / "vlm"
    assert main(["--preset", cfg_path, "--out", str(vlm), "--stages", "1a", "--steps", "1a=1", *ARGS]) == 0
    assert load_checkpoint(vlm)[0].channel_decoder.noise_floor == pytest.approx(0.01)   # 20 dB
    seen = []
    forward = ChannelDecoder.forward

    def spy(self, x_hat, no_eff):
        seen.append(self.noise_floor)
        return forward(self, x_hat, no_eff)

    monkeypatch.setattr(ChannelDecoder, "forward", spy)
    out = tmp_path / "s2"
    assert main(["--preset", cfg_path, "--init", str(vlm), "--out", str(out), "--stages", "2sep",
                 "--steps", "2sep=2", "--eval-examples", "1", *ARGS]) == 0
    assert seen[:2] == [ChannelDecoder.DEFAULT_NOISE_FLOOR] * 2   # the two training steps
    monkeypatch.undo()
    assert load_checkpoint(out)[0].channel_decoder.noise_floor == pytest.approx(0.01)


def test_a_codec_with_state_statistics_is_calibrated_before_its_first_step(tmp_path):
    from tokcom.channel_coding import needs_state_calibration
    from tokcom.checkpoint import load_checkpoint
    p = tmp_path / "stats.json"
    p.write_text(json.dumps(small_config(max_prompt_tokens=128, codec_state_stats=True).to_dict()))
    out = tmp_path / "run"
    assert main(["--preset", str(p), "--out", str(out), "--stages", "2sep", "--steps", "2sep=1",
                 *ARGS]) == 0
    model, _, _ = load_checkpoint(out)
    assert not needs_state_calibration(model)
    std = model.channel_encoder.stats.std
    assert not torch.allclose(std, torch.ones_like(std))      # measured, not the identity
    assert torch.equal(std, model.channel_decoder.stats.std)


def test_answer_loss_is_the_cross_entropy_plus_a_kl_that_vanishes_on_the_teacher():
    from tokcom.train import answer_loss
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 7, generator=g)
    ids = torch.tensor([[1, 2, -100], [3, -100, -100]])
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids.flatten(), ignore_index=-100)
    assert torch.allclose(answer_loss(logits, logits, ids, 0.5), ce)          # KL(p || p) = 0
    other = torch.randn(2, 3, 7, generator=g)
    assert answer_loss(logits, other, ids, 0.5) > ce + 1e-3
    # the pad positions of the teacher do not count
    other2 = other.clone()
    other2[ids == -100] += 100.0
    assert torch.allclose(answer_loss(logits, other, ids, 0.5), answer_loss(logits, other2, ids, 0.5))


def test_distilled_stage_2_keeps_its_teacher_in_the_state_and_resumes_with_it(tmp_path, cfg_path, capsys):
    out = tmp_path / "run"
    common = ["--preset", cfg_path, "--out", str(out), "--stages", "1b,2", "--save-every", "2",
              "--distill", "1.0", *ARGS]
    assert main(common + ["--steps", "1b=2,2=2"]) == 0
    assert (out / "state" / "teacher.safetensors").exists()
    (out / "model.safetensors").unlink()                        # killed before the end
    assert main(common + ["--steps", "1b=2,2=4"]) == 0
    rows = [r for r in _log(out / "train_log.csv") if r["stage"] == "2"]
    assert [int(r["step"]) for r in rows] == [0, 1, 2, 3]
    assert json.loads((out / "meta.json").read_text())["distill"] == 1.0
    assert main(["--preset", cfg_path, "--out", str(tmp_path / "x"), "--stages", "1b",
                 "--distill", "1", *ARGS]) == 2
    assert main(["--preset", cfg_path, "--out", str(tmp_path / "y"), "--distill", "nan", *ARGS]) == 2
    assert "--distill" in capsys.readouterr().err


def test_codec_warm_up_on_the_token_states_learns_to_pass_them(tmp_path, cfg_path):
    out = tmp_path / "run"
    assert main(["--preset", cfg_path, "--out", str(out), "--stages", "2sep", "--steps", "2sep=30",
                 "--codec-warmup", "states", "--snr-range", "20,20", "--lr", "2sep=3e-3", *ARGS]) == 0
    losses = [float(r["loss"]) for r in _log(out / "train_log.csv")]
    assert losses[0] > 0.5                             # a fresh codec does not pass them
    assert sum(losses[-5:]) / 5 < 0.8 * losses[0]      # it learns to pass the states
    assert json.loads((out / "meta.json").read_text())["codec_warmup"] == "states"
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "x"), "--codec-warmup", "bits"])
    assert main(["--preset", cfg_path, "--out", str(tmp_path / "y"), "--stages", "2",
                 "--codec-warmup", "states", *ARGS]) == 2        # no 2sep: it would change nothing


def test_lm_pretraining_on_unlabelled_text(tmp_path, cfg_path):
    """A ``0.lm`` stage on ``review_text`` trains the LM on plain next-token loss, and the
    closing check scores only the labelled datasets."""
    out = tmp_path / "run"
    assert main(["--preset", cfg_path, "--out", str(out), "--stages", "0.lm,1a",
                 "--steps", "0.lm=30,1a=1", "--lr", "0.lm=3e-3",
                 "--stage-mix", "0.lm=review_text:1", *ARGS]) == 0
    rows = _log(out / "train_log.csv")
    lm = [float(r["loss"]) for r in rows if r["stage"] == "0.lm"]
    assert {r["dataset"] for r in rows if r["stage"] == "0.lm"} == {"review_text"}
    assert sum(lm[-5:]) / 5 < 0.85 * sum(lm[:3]) / 3
    acc = json.loads((out / "meta.json").read_text())["error_free_accuracy_quick"]
    assert "review_text" not in acc and set(acc) == {"clevr_gen", "synthetic_sentiment"}


def test_embed_lr_scale_holds_the_token_embeddings_in_the_stages_it_names(tmp_path, cfg_path, capsys):
    """``--embed-lr-scale 0=0,0.lm=1``: the embeddings learn in ``0.lm`` and stay as it left them
    through ``0``, while the rest of the LLM moves and the output head, untied from them, learns;
    at scale 1 the optimiser's groups are the layout of runs before the option existed."""
    from safetensors.torch import load_file

    from tokcom.factory import create_taichi
    from tokcom.stages import embedding_parameters, param_groups, set_trainable
    model, _tok, _cfg = create_taichi(cfg_path)
    set_trainable(model, "0")
    emb = embedding_parameters(model)
    assert len(emb) == 1 and emb[0] is model.llm.lm.lm_head.weight   # tied head: one tensor
    assert len(param_groups(model, 1e-3, 0.0, 0.0)) == 1
    groups = param_groups(model, 1e-3, 0.0, 0.0, embed_lr_scale=0.1)
    assert [g["lr"] for g in groups] == [pytest.approx(1e-4), 1e-3]
    assert [id(p) for p in groups[0]["params"]] == [id(emb[0])]
    groups = param_groups(model, 1e-3, 0.0, 0.0, embed_lr_scale=0.0)
    assert not emb[0].requires_grad and all(id(p) != id(emb[0]) for g in groups for p in g["params"])
    with pytest.raises(ValueError, match="embed_lr_scale"):
        param_groups(model, 1e-3, embed_lr_scale=float("inf"))
    assert model.llm.untie_head() and not model.llm.untie_head()     # once; then two tensors
    assert model.llm.lm.lm_head.weight is not emb[0]
    assert torch.equal(model.llm.lm.lm_head.weight, emb[0])

    lm_only, held = tmp_path / "lm", tmp_path / "held"
    common = ["--preset", cfg_path, "--stage-mix", "0.lm=review_text:1", "--lr", "0.lm=3e-3", *ARGS]
    assert main([*common, "--out", str(lm_only), "--stages", "0.lm", "--steps", "0.lm=4"]) == 0
    held_args = [*common, "--out", str(held), "--stages", "0.lm,0", "--embed-lr-scale", "0=0,0.lm=1",
                 "--save-every", "2"]
    assert main([*held_args, "--steps", "0.lm=4,0=2"]) == 0
    (held / "model.safetensors").unlink()          # as if killed: resumes from the untied state
    assert main([*held_args, "--steps", "0.lm=4,0=4"]) == 0
    assert "output head untied" in capsys.readouterr().err
    a, b = load_file(str(lm_only / "model.safetensors")), load_file(str(held / "model.safetensors"))
    key = next(k for k in a if k.endswith("embed_tokens.weight"))
    head = next(k for k in a if k.endswith("lm_head.weight"))
    assert torch.equal(a[key], b[key])    # the same seed and 0.lm batches; stage 0 did not move them
    assert torch.equal(a[head], a[key]) and not torch.equal(b[head], b[key])   # the head learnt
    assert any(not torch.equal(a[k], b[k]) for k in a if ".layers." in k)
    assert json.loads((held / "meta.json").read_text())["embed_lr_scale"] == {"0.lm": 1.0, "0": 0.0}
    assert json.loads((held / "config.json").read_text())["llm"]["config"]["tie_word_embeddings"] is False
    loaded, _t, _c = create_taichi(checkpoint=str(held))       # loads with its own head
    assert torch.equal(loaded.llm.lm.lm_head.weight, b[head])
    assert torch.equal(loaded.llm.lm.get_input_embeddings().weight, b[key])
    assert main([*common, "--out", str(tmp_path / "bad"), "--stages", "0", "--embed-lr-scale", "0=-1"]) == 2
    assert "--embed-lr-scale wants STAGE=V with V >= 0" in capsys.readouterr().err


def test_embed_rows_text_holds_only_the_rows_of_the_unlabelled_texts_tokens(tmp_path, cfg_path, capsys):
    """``--embed-rows text``: through stage 0 the rows of the review text's tokens keep their
    values exactly (weight decay undone), other rows move, and the head stays tied."""
    from safetensors.torch import load_file

    from tokcom.checkpoint import load_checkpoint_tokenizer
    from tokcom.train import _text_token_ids, _train_sets
    common = ["--preset", cfg_path, "--stage-mix", "0.lm=review_text:1", "--lr", "0.lm=3e-3", *ARGS]
    lm_only, held = tmp_path / "lm", tmp_path / "held"
    assert main([*common, "--out", str(lm_only), "--stages", "0.lm", "--steps", "0.lm=4"]) == 0
    held_args = [*common, "--out", str(held), "--stages", "0.lm,0", "--embed-lr-scale", "0=0,0.lm=1",
                 "--embed-rows", "text", "--save-every", "2"]
    assert main([*held_args, "--steps", "0.lm=4,0=2"]) == 0
    (held / "model.safetensors").unlink()          # as if killed: resumes holding the same rows
    assert main([*held_args, "--steps", "0.lm=4,0=4"]) == 0
    tok = load_checkpoint_tokenizer(str(held))
    ids = _text_token_ids(tok, [ds for _n, _w, ds in _train_sets([("review_text", 1)], 8, 8, 0)])
    assert 20 < len(ids) < len(tok) and not set(ids.tolist()) & set(tok.all_special_ids)
    a, b = load_file(str(lm_only / "model.safetensors")), load_file(str(held / "model.safetensors"))
    key = next(k for k in a if k.endswith("embed_tokens.weight"))
    assert torch.equal(a[key][ids], b[key][ids])
    rest = torch.ones(len(tok), dtype=torch.bool).index_fill(0, ids, False)
    assert not torch.equal(a[key][rest], b[key][rest])
    meta = json.loads((held / "meta.json").read_text())
    assert meta["embed_rows"] == "text" and meta["embed_rows_held"] == len(ids)
    assert json.loads((held / "config.json").read_text())["llm"]["config"]["tie_word_embeddings"] is True
    assert main(["--preset", cfg_path, *ARGS, "--out", str(tmp_path / "bad"), "--stages", "0",
                 "--embed-lr-scale", "0=0", "--embed-rows", "text"]) == 2                 # no text
    assert main([*common, "--out", str(tmp_path / "bad"), "--stages", "0.lm,0", "--embed-lr-scale",
                 "0=0.5,0.lm=1", "--embed-rows", "text"]) == 2
    err = capsys.readouterr().err
    assert "no stage trains on one" in err and "scale 0" in err


def test_text_stage_keeps_embeddings_resets_the_rest_of_the_llm(tmp_path, cfg_path, capsys, monkeypatch):
    """``--text-stage-keeps embeddings``: after ``0.lm`` only its token embeddings go on (stage 0
    then starts from the LLM weights the run started from, so its first loss is that of a run
    without ``0.lm`` but with those embeddings); a run killed after the text stage resumes to the
    same weights. ``--embed-rows text-only`` holds the text rows less the image questions' tokens."""
    from safetensors.torch import load_file

    import tokcom.train as train_mod
    from tokcom.checkpoint import load_checkpoint_tokenizer
    from tokcom.corpus import default_corpus
    from tokcom.factory import create_taichi
    from tokcom.train import REVIEW_TEXT_IN_TOKENIZER, _text_token_ids, _train_sets
    common = ["--preset", cfg_path, "--stage-mix", "0.lm=review_text:1", "--lr", "0.lm=3e-3", *ARGS]
    lm_only, kept, resumed = tmp_path / "lm", tmp_path / "kept", tmp_path / "resumed"
    assert main([*common, "--out", str(lm_only), "--stages", "0.lm", "--steps", "0.lm=4",
                 "--text-stage-keeps", "embeddings"]) == 0
    assert "returned to those the run started from" in capsys.readouterr().err
    torch.manual_seed(0)                  # the model as the run created it (same seed, tokenizer)
    start, _t, _c = create_taichi(cfg_path, corpus=default_corpus(num_reviews=REVIEW_TEXT_IN_TOKENIZER))
    f = start.state_dict()
    a = load_file(str(lm_only / "model.safetensors"))
    key = next(k for k in a if k.endswith("embed_tokens.weight"))
    assert not torch.equal(a[key], f[key])                               # the embeddings learnt
    layers = [k for k in a if k.startswith("llm.") and k != key and not k.endswith("lm_head.weight")]
    assert len(layers) > 10 and all(torch.equal(a[k], f[k]) for k in layers)   # the rest went back
    args = [*common, "--stages", "0.lm,0", "--embed-lr-scale", "0=0,0.lm=1", "--embed-rows",
            "text-only", "--text-stage-keeps", "embeddings", "--save-every", "2",
            "--steps", "0.lm=4,0=2"]
    assert main([*args, "--out", str(kept)]) == 0
    real_seed = train_mod._batch_seed

    def killed_in_stage_0(seed, stage, step):        # the run dies as stage 0 begins
        if stage == "0":
            raise KeyboardInterrupt
        return real_seed(seed, stage, step)
    monkeypatch.setattr(train_mod, "_batch_seed", killed_in_stage_0)
    with pytest.raises(KeyboardInterrupt):
        main([*args, "--out", str(resumed)])
    monkeypatch.setattr(train_mod, "_batch_seed", real_seed)
    assert main([*args, "--out", str(resumed)]) == 0
    k, r = load_file(str(kept / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert all(torch.equal(k[n], r[n]) for n in k)
    tok = load_checkpoint_tokenizer(str(kept))
    sets = [ds for _n, _w, ds in _train_sets(parse_mix("clevr_gen:1,synthetic_sentiment:1,review_text:1"),
                                             40, 40, 0)]   # ARGS sizes
    only, text = _text_token_ids(tok, sets, only=True), _text_token_ids(tok, sets)
    dropped = set(text.tolist()) - set(only.tolist())
    assert set(only.tolist()) < set(text.tolist()) and tok.convert_tokens_to_ids("Ġthe") in dropped
    assert torch.equal(a[key][only], k[key][only])             # held through stage 0
    meta = json.loads((kept / "meta.json").read_text())
    assert meta["embed_rows"] == "text-only" and meta["text_stage_keeps"] == "embeddings"
    assert main([*common, "--out", str(tmp_path / "bad"), "--stages", "0,0.lm",
                 "--text-stage-keeps", "embeddings"]) == 2
    assert main(["--preset", cfg_path, *ARGS, "--out", str(tmp_path / "bad2"), "--stages", "0",
                 "--text-stage-keeps", "embeddings"]) == 2
    err = capsys.readouterr().err
    assert "put them first" in err and "needs a stage on unlabelled text" in err


def test_init_draw_plain_starts_from_the_weights_of_the_run_without_review_text(tmp_path):
    """A run whose tokenizer also learns the review text has a larger vocabulary, so every weight
    drawn after the token embeddings is another draw than the same seed's run without it;
    ``--init-draw plain`` starts it from that run's weights (the extra rows drawn on top)."""
    from safetensors.torch import load_file

    from tokcom.factory import create_taichi
    cfg_path = tmp_path / "big_vocab.json"     # room for the review text's words in the vocabulary
    cfg_path.write_text(json.dumps(small_config(max_prompt_tokens=128, tokenizer_vocab=4000).to_dict()))
    cfg_path = str(cfg_path)
    common = ["--preset", cfg_path, "--stage-mix", "0.lm=review_text:1", *ARGS, "--stages", "0.lm",
              "--steps", "0.lm=2", "--text-stage-keeps", "embeddings"]
    own, plain = tmp_path / "own", tmp_path / "plain"
    assert main([*common, "--out", str(own)]) == 0
    assert main([*common, "--init-draw", "plain", "--out", str(plain)]) == 0
    torch.manual_seed(0)
    f = create_taichi(cfg_path)[0].state_dict()     # the run without review text, as created
    emb = next(k for k in f if k.endswith("embed_tokens.weight"))
    others = [k for k in f if k != emb and not k.endswith("lm_head.weight")]
    o, p = load_file(str(own / "model.safetensors")), load_file(str(plain / "model.safetensors"))
    assert o[emb].shape[0] > f[emb].shape[0]        # the review text's tokens
    # 0.lm moved only the embeddings; the rest went back to the start: the plain run's start
    assert len(others) > 20 and all(torch.equal(p[k], f[k]) for k in others)
    assert not all(torch.equal(o[k], f[k]) for k in others)   # the own draw is another
    assert json.loads((plain / "meta.json").read_text())["init_draw"] == "plain"
    with pytest.raises(SystemExit):
        main([*common, "--init-draw", "bogus", "--out", str(tmp_path / "x")])


def test_text_stage_keeps_text_rows_resets_the_rows_the_text_never_holds(tmp_path, cfg_path, capsys):
    """``--text-stage-keeps text-rows``: after ``0.lm`` the rows of the tokens its text never holds
    (pushed away all alike by its loss through the tied head) return to their starting values
    with the rest of the LLM; the rows of the text's tokens keep what it learnt."""
    from safetensors.torch import load_file

    from tokcom.checkpoint import load_checkpoint_tokenizer
    from tokcom.corpus import default_corpus
    from tokcom.factory import create_taichi
    from tokcom.train import REVIEW_TEXT_IN_TOKENIZER, _text_token_ids, _train_sets
    out = tmp_path / "rows"
    assert main(["--preset", cfg_path, "--stage-mix", "0.lm=review_text:1", "--lr", "0.lm=3e-3", *ARGS,
                 "--out", str(out), "--stages", "0.lm", "--steps", "0.lm=4",
                 "--text-stage-keeps", "text-rows"]) == 0
    assert "embedding rows of the" in capsys.readouterr().err
    torch.manual_seed(0)
    start, _t, _c = create_taichi(cfg_path, corpus=default_corpus(num_reviews=REVIEW_TEXT_IN_TOKENIZER))
    f, a = start.state_dict(), load_file(str(out / "model.safetensors"))
    key = next(k for k in a if k.endswith("embed_tokens.weight"))
    tok = load_checkpoint_tokenizer(str(out))
    ids = _text_token_ids(tok, [ds for _n, _w, ds in _train_sets([("review_text", 1)], 40, 40, 0)])
    rest = torch.ones(len(tok), dtype=torch.bool).index_fill(0, ids, False)
    assert torch.equal(a[key][rest], f[key][rest])
    assert (a[key][ids] - f[key][ids]).abs().sum(1).gt(0).all()
    assert all(torch.equal(a[k], f[k]) for k in a if ".layers." in k)


def test_seen_loss_adds_the_seen_attribute_term_in_the_stages_it_names(tmp_path, cfg_path, capsys):
    common = ["--preset", cfg_path, "--stages", "0", "--steps", "0=3", "--mix", "easy_vqa_yesno_plain:1",
              "--batch-size", "8", "--eval-examples", "0", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--out", str(tmp_path / "b"), "--seen-loss", "0=1"]) == 0
    plain, seen = (_log(tmp_path / r / "train_log.csv") for r in "ab")
    # the same initial weights and batch: the first step's loss gains the (positive) seen term
    assert float(seen[0]["loss"]) > float(plain[0]["loss"]) + 0.5
    assert json.loads((tmp_path / "b" / "meta.json").read_text())["seen_loss"] == {"0": 1.0}
    assert "seen_loss" not in json.loads((tmp_path / "a" / "meta.json").read_text())
    for bad in (["--stages", "2", "--seen-loss", "2=1"], ["--seen-loss", "0=-1"]):
        assert main(["--preset", cfg_path, "--out", str(tmp_path / "c"), *bad]) == 2
        assert "--seen-loss" in capsys.readouterr().err


def test_a_stage_continued_from_the_checkpoint_equals_the_same_stage_in_one_run(tmp_path, cfg_path):
    # nothing but the weights carries from one stage to the next (no global-RNG draws, no dropout):
    # 0.yesno started with --init from stage 0's checkpoint trains to the same weights as in-run
    common = ["--preset", cfg_path, "--seed", "1", "--mix", "easy_vqa_yesno_plain:1", "--batch-size", "4",
              "--eval-examples", "0", "--no-progress"]
    assert main([*common, "--stages", "0,0.yesno", "--steps", "0=4,0.yesno=4", "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--stages", "0", "--steps", "0=4", "--out", str(tmp_path / "s0")]) == 0
    assert main([*common, "--init", str(tmp_path / "s0"), "--stages", "0.yesno", "--steps", "0.yesno=4",
                 "--out", str(tmp_path / "b")]) == 0
    from safetensors.torch import load_file
    a, b = (load_file(str(tmp_path / r / "model.safetensors")) for r in "ab")
    s0 = load_file(str(tmp_path / "s0" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], s0[k]) for k in a)      # 0.yesno did train


def test_text_stage_keeps_new_rows_learns_only_the_new_words_and_gives_back_the_rest(
        tmp_path, cfg_path, capsys, monkeypatch):
    """``--text-stage-keeps new-rows``: a text stage after a labelled one gives the text's split
    words tokens of their own; afterwards the LLM is what stage 0 left, but for the new rows, which
    learnt and are then held (1b); a run killed inside the text stage resumes to the same weights."""
    from safetensors.torch import load_file

    import tokcom.train as train_mod
    from tokcom.checkpoint import load_checkpoint_tokenizer
    common = ["--preset", cfg_path, "--stage-mix", "0.lm=review_text:1", "--lr", "0.lm=3e-3", *ARGS,
              "--text-stage-keeps", "new-rows", "--save-every", "2"]
    runs = {r: tmp_path / r for r in ("s0", "lm", "lm1b", "killed")}
    assert main([*ARGS, "--preset", cfg_path, "--stages", "0", "--steps", "0=3", "--out", str(runs["s0"])]) == 0
    assert main([*common, "--stages", "0,0.lm", "--steps", "0=3,0.lm=4", "--out", str(runs["lm"])]) == 0
    assert "got tokens of their own" in capsys.readouterr().err
    s0, lm = (load_file(str(runs[r] / "model.safetensors")) for r in ("s0", "lm"))
    tok0, tok = load_checkpoint_tokenizer(str(runs["s0"])), load_checkpoint_tokenizer(str(runs["lm"]))
    words = json.loads((runs["lm"] / "meta.json").read_text())["text_words_added"]
    assert words and len(tok) == len(tok0) + len(words)
    assert all(len(tok(w, add_special_tokens=False)["input_ids"]) == 1 for w in words)
    key = next(k for k in lm if k.endswith("embed_tokens.weight"))
    old = len(tok0)
    assert lm[key].shape[0] == len(tok) and torch.equal(lm[key][:old], s0[key])
    assert all(torch.equal(lm[k], s0[k]) for k in s0 if k != key and not k.endswith("lm_head.weight"))
    first = tok0(words[0], add_special_tokens=False)["input_ids"]     # its row began as its pieces' mean
    assert not torch.allclose(lm[key][old], s0[key][first].mean(0))
    # 1b after the text stage: the old rows learn again, the new ones are held
    args = [*common, "--stages", "0,0.lm,1b", "--steps", "0=3,0.lm=4,1b=2"]
    assert main([*args, "--out", str(runs["lm1b"])]) == 0
    full = load_file(str(runs["lm1b"] / "model.safetensors"))
    assert torch.equal(full[key][old:], lm[key][old:]) and not torch.equal(full[key][:old], lm[key][:old])
    real_seed = train_mod._batch_seed

    def killed_in_the_text_stage(seed, stage, step):
        if stage == "0.lm" and step == 3:
            raise KeyboardInterrupt
        return real_seed(seed, stage, step)
    monkeypatch.setattr(train_mod, "_batch_seed", killed_in_the_text_stage)
    with pytest.raises(KeyboardInterrupt):
        main([*args, "--out", str(runs["killed"])])
    monkeypatch.setattr(train_mod, "_batch_seed", real_seed)
    assert main([*args, "--out", str(runs["killed"])]) == 0
    again = load_file(str(runs["killed"] / "model.safetensors"))
    assert all(torch.equal(full[k], again[k]) for k in full)
    capsys.readouterr()
    for bad in (["--stages", "0.lm,0,0.lm2", "--stage-mix", "0.lm2=review_text:1"],
                ["--stages", "0,0.lm", "--embed-rows", "text"]):
        assert main([*common, "--out", str(tmp_path / "bad"), *bad]) == 2
    err = capsys.readouterr().err
    assert "must follow one another" in err and "leave --embed-rows all" in err


def test_binding_stages_after_2_train_through_the_channel_and_continue_from_the_checkpoint(tmp_path, cfg_path):
    # 2.yesno after 2 is a stage-2 kind: the channel in the loop, the same LoRA (applied once), and
    # started with --init from stage 2's checkpoint it trains to the weights of the one run
    common = ["--preset", cfg_path, "--seed", "1", "--mix", "easy_vqa_yesno_plain:1", "--batch-size", "4",
              "--eval-examples", "0", "--no-progress"]
    steps = "2sep=3,2=3,2.yesno=4"
    assert main([*common, "--stages", "2sep,2,2.yesno", "--steps", steps, "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--stages", "2sep,2", "--steps", steps.rsplit(",", 1)[0], "--out", str(tmp_path / "s2")]) == 0
    assert main([*common, "--init", str(tmp_path / "s2"), "--stages", "2.yesno", "--steps", "2.yesno=4",
                 "--out", str(tmp_path / "b")]) == 0
    from safetensors.torch import load_file
    a, b = (load_file(str(tmp_path / r / "model.safetensors")) for r in "ab")
    s2 = load_file(str(tmp_path / "s2" / "model.safetensors"))
    assert a.keys() == b.keys() == s2.keys() and any("lora_" in k for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], s2[k]) for k in a if "lora_" in k)           # LoRA learnt in 2.yesno
    assert any(not torch.equal(a[k], s2[k]) for k in a if "channel_encoder" in k)  # so did the codec
    assert json.loads((tmp_path / "a" / "meta.json").read_text())["snr_policy"]["channels"]


def test_default_binding_stages_after_2_have_their_own_steps_lr_and_mixtures():
    from tokcom.train import BINDING_MIX, DEFAULT_LR, DEFAULT_STAGE_MIX, DEFAULT_STEPS
    assert DEFAULT_STAGE_MIX["2.yesno"] == "easy_vqa_yesno_plain:1"
    assert DEFAULT_STAGE_MIX["2.mixed"] == DEFAULT_STAGE_MIX["2.more"] == DEFAULT_STAGE_MIX["0.mixed"] == BINDING_MIX
    assert (DEFAULT_STEPS["2.yesno"], DEFAULT_STEPS["2.mixed"], DEFAULT_STEPS["2.more"]) == (800, 400, 2400)
    assert DEFAULT_LR["2.yesno"] == 1e-3 and "2.more" not in DEFAULT_LR          # 2.more: stage 2's 5e-4
    assert all(parse_mix(m) for m in DEFAULT_STAGE_MIX.values())
