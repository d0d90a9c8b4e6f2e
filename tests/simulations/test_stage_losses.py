import pytest

from simulations.stage_losses import main, stage_losses


@pytest.fixture
def log(tmp_path):
    p = tmp_path / "train_log.csv"
    rows = ["stage,step,loss,lr,dataset,seconds,grad_norm"]
    rows += [f"0,{i},{1.0 if i < 4 else 3.0},0.001,{'a' if i % 2 else 'b'},0.1,1" for i in range(8)]
    rows += ["0.yesno,0,0.5,0.001,a,0.1,1"]
    p.write_text("\n".join(rows) + "\n")
    return str(p)


def test_blocks_and_last_steps(log):
    t = stage_losses(log, "0", every=4)
    assert t.loc["a", 0] == 1.0 and t.loc["a", 4] == 3.0 and t.loc["b", 4] == 3.0
    assert stage_losses(log, "0", last=4)["last 4"].tolist() == [3.0, 3.0]
    assert stage_losses(log, "0.yesno").loc["a", 0] == 0.5


def test_bad_input_one_line_and_nonzero(log, tmp_path, capsys):
    assert main([log, "--stage", "2"]) == 2
    assert "no stage '2'" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main([str(bad), "--stage", "0"]) == 2
    assert "not a tokcom.train log" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([log, "--stage", "0", "--every", "0"])


def test_a_log_of_numeric_stages_alone(tmp_path, capsys):
    """A log whose stages all look like numbers (``--stages 2``) is still read by label."""
    p = tmp_path / "train_log.csv"
    p.write_text("stage,step,loss,lr,dataset,seconds,grad_norm\n2,0,0.25,0.001,a,0.1,1\n2,1,0.75,0.001,a,0.1,1\n")
    assert stage_losses(str(p), "2").loc["a", 0] == 0.5
    assert main([str(p), "--stage", "1b"]) == 2
    assert "stages: 2" in capsys.readouterr().err
