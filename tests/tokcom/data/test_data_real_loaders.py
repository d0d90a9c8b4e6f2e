"""Tests for the CLEVR v1.0 and VQAv2 loaders and VQA soft accuracy (fixture files written here)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tokcom.data import get_dataset
from tokcom.data.clevr_real import CLEVRReal
from tokcom.data.vqav2 import VQAv2, normalize_vqa_answer, vqa_soft_accuracy


def _png(path: Path, size: tuple[int, int], value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path)


# --------------------------------------------------------------------------- CLEVR

def _clevr(root: Path, questions: list[dict] | None = None) -> Path:
    for i, v in enumerate((40, 200)):
        _png(root / "images" / "val" / f"CLEVR_val_{i:06d}.png", (48, 32), v)
    qs = questions if questions is not None else [
        {"question": "Is there a cube?", "answer": "yes", "image_filename": "CLEVR_val_000000.png",
         "image_index": 0, "question_family_index": 3},
        {"question": "How many spheres?", "answer": "2", "image_index": 1},
        {"question": "What color is it?", "answer": "red", "image_filename": "CLEVR_val_000001.png"},
    ]
    (root / "questions").mkdir(parents=True, exist_ok=True)
    (root / "questions" / "CLEVR_val_questions.json").write_text(json.dumps({"info": {}, "questions": qs}))
    return root


def test_clevr_loads(tmp_path):
    ds = CLEVRReal(_clevr(tmp_path), "val", image_size=96)
    assert len(ds) == 3 and ds.answers() == ["yes", "2", "red"]
    ex = ds[1]
    assert ex.image.shape == (3, 96, 96) and abs(float(ex.image.mean()) - 200 / 255) < 1e-3
    assert ex.question == "How many spheres?" and ex.task == "vqa"
    assert ex.meta["image_filename"] == "CLEVR_val_000001.png"
    assert ds[0].meta["question_family_index"] == 3
    assert CLEVRReal(tmp_path, "val", image_size=None)[0].image.shape == (3, 32, 48)
    assert len(get_dataset("clevr", "val", root=tmp_path, max_questions=2)) == 2
    assert ds.answer_vocab() == ["2", "red", "yes"]


def test_clevr_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="CLEVR_train_questions.json"):
        CLEVRReal(_clevr(tmp_path), "train")
    root = _clevr(tmp_path / "b", [{"question": "q?", "answer": "no", "image_index": 9}])
    ds = CLEVRReal(root, "val")
    with pytest.raises(FileNotFoundError, match="CLEVR_val_000009.png"):
        ds[0]


def test_clevr_malformed_json_names_file(tmp_path):
    root = _clevr(tmp_path)
    qp = root / "questions" / "CLEVR_val_questions.json"
    qp.write_text('{"questions": [\n  {"question": "a?", "answer": "yes",\n')
    with pytest.raises(ValueError, match="malformed JSON at line") as ei:
        CLEVRReal(root, "val")
    assert str(qp) in str(ei.value)


@pytest.mark.parametrize("bad,msg", [
    ({"answer": "yes", "image_index": 0}, "'question'"),
    ({"question": "q?", "answer": "yes"}, "image_filename"),
    ({"question": "q?", "image_index": 0}, "'answer'"),
    ("not an object", "not an object"),
])
def test_clevr_bad_entry_names_file_and_index(tmp_path, bad, msg):
    good = {"question": "q?", "answer": "yes", "image_index": 0}
    root = _clevr(tmp_path, [good, good, bad])
    with pytest.raises(ValueError, match=msg) as ei:
        CLEVRReal(root, "val")
    assert "entry 2" in str(ei.value) and "CLEVR_val_questions.json" in str(ei.value)


def test_clevr_unlabelled_split(tmp_path):
    root = _clevr(tmp_path, [{"question": "q?", "image_index": 0}])
    assert CLEVRReal(root, "val", require_answers=False).answers() == [""]


# --------------------------------------------------------------------------- VQAv2

def _vqa(root: Path) -> Path:
    _png(root / "val2014" / "COCO_val2014_000000000042.png", (20, 10), 90)
    # COCO images are JPEGs; write one under the official name
    Image.fromarray(np.full((10, 20, 3), 90, np.uint8)).save(root / "val2014" / "COCO_val2014_000000000042.jpg")
    Image.fromarray(np.full((12, 12, 3), 10, np.uint8)).save(root / "val2014" / "000000000007.jpg")
    qs = {"data_subtype": "val2014", "questions": [
        {"question_id": 420, "image_id": 42, "question": "What color is the bus?"},
        {"question_id": 70, "image_id": 7, "question": "How many dogs?"}]}
    anns = {"annotations": [
        {"question_id": 420, "image_id": 42, "multiple_choice_answer": "red", "answer_type": "other",
         "question_type": "what color is the",
         "answers": [{"answer": a, "answer_id": i + 1} for i, a in enumerate(["red"] * 7 + ["Red!", "maroon", "red"])]},
        {"question_id": 70, "image_id": 7, "multiple_choice_answer": "2", "answer_type": "number",
         "question_type": "how many", "answers": [{"answer": a} for a in ["2", "two", "3"]]}]}
    (root / "v2_OpenEnded_mscoco_val2014_questions.json").write_text(json.dumps(qs))
    (root / "v2_mscoco_val2014_annotations.json").write_text(json.dumps(anns))
    return root


def test_vqav2_loads(tmp_path):
    ds = VQAv2.from_root(_vqa(tmp_path), "val", image_size=32)
    assert len(ds) == 2 and ds.answers() == ["red", "2"]
    ex = ds[0]
    assert ex.image.shape == (3, 32, 32) and ex.question == "What color is the bus?"
    assert ex.meta["question_id"] == 420 and len(ex.meta["answers"]) == 10
    assert vqa_soft_accuracy(ex.answer, ex.meta["answers"]) == 1.0
    assert ds[1].image.shape == (3, 32, 32)  # COCO-2017-style name found too
    assert vqa_soft_accuracy("two", ds[1].meta["answers"]) == pytest.approx(2 / 3)
    assert ds.answer_vocab() == ["2", "red"]
    assert len(get_dataset("vqav2", "val", root=tmp_path)) == 2


def test_vqav2_without_annotations(tmp_path):
    root = _vqa(tmp_path)
    ds = VQAv2(root / "v2_OpenEnded_mscoco_val2014_questions.json", None, root / "val2014")
    assert ds.answers() == ["", ""] and ds[0].meta["answers"] == []


def test_vqav2_errors(tmp_path):
    root = _vqa(tmp_path)
    qp, ap = root / "v2_OpenEnded_mscoco_val2014_questions.json", root / "v2_mscoco_val2014_annotations.json"
    with pytest.raises(FileNotFoundError, match="train2014"):
        VQAv2.from_root(root, "train")
    with pytest.raises(FileNotFoundError, match="nothere"):
        VQAv2(qp, ap, root / "nothere")
    # malformed annotation item: file and index named
    anns = json.loads(ap.read_text())
    del anns["annotations"][1]["multiple_choice_answer"]
    ap.write_text(json.dumps(anns))
    with pytest.raises(ValueError, match="annotation entry 1 has no 'multiple_choice_answer'") as ei:
        VQAv2(qp, ap, root / "val2014")
    assert str(ap) in str(ei.value)
    # a question without an annotation
    anns["annotations"] = anns["annotations"][:1]
    ap.write_text(json.dumps(anns))
    with pytest.raises(ValueError, match=r"question entry 1 \(question_id 70\) has no annotation"):
        VQAv2(qp, ap, root / "val2014")
    # malformed questions JSON
    qp.write_text('{"questions": [}')
    with pytest.raises(ValueError, match="malformed JSON") as ei:
        VQAv2(qp, ap, root / "val2014")
    assert str(qp) in str(ei.value)
    qp.write_text(json.dumps({"questions": [{"question_id": 1, "question": "q?"}]}))
    with pytest.raises(ValueError, match="question entry 0 has no 'image_id'"):
        VQAv2(qp, None, root / "val2014")
    qp.write_text(json.dumps({"questions": [{"question_id": 1, "image_id": 999, "question": "q?"}]}))
    with pytest.raises(FileNotFoundError, match="image_id 999"):
        VQAv2(qp, None, root / "val2014")[0]


# --------------------------------------------------------------------------- soft accuracy

def test_vqa_soft_accuracy_values():
    humans = ["yes"] * 2 + ["no"] * 8
    assert vqa_soft_accuracy("maybe", humans) == 0.0
    assert vqa_soft_accuracy("Yes", ["yes"] + ["no"] * 9) == pytest.approx(1 / 3)
    assert vqa_soft_accuracy("yes.", humans) == pytest.approx(2 / 3)
    assert vqa_soft_accuracy("no", humans) == 1.0
    assert vqa_soft_accuracy("The dog", ["dog", "a dog", "dogs"]) == pytest.approx(2 / 3)
    assert vqa_soft_accuracy("two", ["2", "2", "2"]) == 1.0
    # official leave-one-out variant: 1 match of 10 -> 9/10 * 1/3
    assert vqa_soft_accuracy("yes", ["yes"] + ["no"] * 9, leave_one_out=True) == pytest.approx(0.3)
    assert vqa_soft_accuracy("no", humans, leave_one_out=True) == 1.0
    with pytest.raises(ValueError):
        vqa_soft_accuracy("x", [])


def test_normalize_vqa_answer():
    assert normalize_vqa_answer("The Two black-and-white dogs!") == "2 black and white dogs"
    assert normalize_vqa_answer("3.5") == "3.5" and normalize_vqa_answer("yes.") == "yes"
    assert normalize_vqa_answer("don't") == "dont"
