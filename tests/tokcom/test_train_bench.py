"""The training-step benchmark runs and reports what it timed."""
import json

from tokcom.train_bench import main

from conftest import small_config


def test_codec_context_timing_reports_each_codec(tmp_path, capsys):
    cfg = tmp_path / "small.json"
    cfg.write_text(json.dumps(small_config(max_prompt_tokens=128).to_dict()))
    assert main(["--preset", str(cfg), "--codec-context", "0", "1", "--steps", "2", "--measure", "1",
                 "--batch-size", "4", "--num-images", "20",
                 "--mix", "clevr_gen:1,synthetic_sentiment:1"]) == 0
    out = capsys.readouterr().out
    assert "codec context layers 0:" in out and "codec context layers 1:" in out
    assert "1.00x the first" in out
