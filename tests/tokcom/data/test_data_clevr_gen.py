"""Tests for the procedural CLEVR-style generator (tokcom.data.clevr_gen)."""
from __future__ import annotations

import re
import time
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tokcom.data import clevr_gen as cg
from tokcom.data.clevr_gen import (ANSWER_VOCAB, COGENT_COLORS, COLORS, FAMILIES, NEEDS_HR, SHAPES,
                                   CLEVRStyle, SceneObject, caption, generate_scene, render_scene)

BINARY = ("exist", "compare_attribute", "compare_count", "spatial_yesno", "exist_pattern")


@pytest.fixture(scope="module")
def big() -> CLEVRStyle:
    ds = CLEVRStyle("train", num_images=120, questions_per_image=6, seed=3)
    ds.answers()  # generate all questions once (no rendering)
    return ds


# --------------------------------------------------------------------------- determinism

def test_same_seed_identical_pixels_and_questions():
    a = CLEVRStyle("train", 6, 3, seed=7)
    b = CLEVRStyle("train", 6, 3, seed=7, cache=False)
    for k in reversed(range(len(a))):  # different access order than b
        ea, eb = a[k], b[k]
        assert torch.equal(ea.image, eb.image)
        assert (ea.question, ea.answer) == (eb.question, eb.answer)
        assert ea.meta["scene"] == eb.meta["scene"]


def test_different_seed_or_split_differs():
    a = CLEVRStyle("train", 4, 3, seed=0)
    b = CLEVRStyle("train", 4, 3, seed=1)
    c = CLEVRStyle("val", 4, 3, seed=0)
    for other in (b, c):
        assert not any(torch.equal(a.image(i), other.image(i)) for i in range(4))
        assert a.answers() != other.answers() or [a[k].question for k in range(12)] != [
            other[k].question for k in range(12)]


def test_split_seed_ranges_disjoint():
    tr, va, te = (CLEVRStyle(s, 3, 1) for s in ("train", "val", "test"))
    seeds = [{d.image_seed(i) for i in range(3)} for d in (tr, va, te)]
    assert not (seeds[0] & seeds[1]) and not (seeds[0] & seeds[2]) and not (seeds[1] & seeds[2])


def test_render_is_pure_function_of_scene():
    sc = generate_scene(np.random.default_rng(5))
    assert np.array_equal(render_scene(sc, 96), render_scene(sc, 96))


# --------------------------------------------------------------------------- format

def test_example_format():
    ds = CLEVRStyle("val", 3, 2, image_size=64)
    ex = ds[1]
    assert ex.image.shape == (3, 64, 64) and ex.image.dtype == torch.float32
    assert 0.0 <= float(ex.image.min()) and float(ex.image.max()) <= 1.0
    assert ex.task == "vqa" and isinstance(ex.question, str) and ex.question.endswith("?")
    assert ex.meta["family"] in FAMILIES and ex.meta["needs_hr"] == NEEDS_HR[ex.meta["family"]]
    assert len(ds) == 6 and ds.answers() == [ds[k].answer for k in range(6)]
    assert set(ds.answers()) <= set(ds.answer_vocab()) == set(ANSWER_VOCAB)
    assert all(" " not in a for a in ds.answers())  # single-word answers
    with pytest.raises(IndexError):
        ds[6]


def test_bad_args():
    with pytest.raises(ValueError, match="split"):
        CLEVRStyle("dev", 2, 1)
    with pytest.raises(ValueError, match="families"):
        CLEVRStyle("train", 2, 1, families=["nope"])
    with pytest.raises(ValueError, match="cogent"):
        CLEVRStyle("train", 2, 1, cogent="C")


def test_scene_geometry_no_occlusion_and_clear_relations():
    for s in range(40):
        objs = generate_scene(np.random.default_rng(s))
        assert 3 <= len(objs) <= 10
        assert any(o.size == "small" for o in objs)
        assert any(o.pattern != "plain" for o in objs)
        assert all(o.pattern == "plain" for o in objs if o.size == "large")
        for i, o in enumerate(objs):
            assert o.r <= o.x <= 1 - o.r and o.r <= o.y <= 1 - o.r
            for p in objs[i + 1:]:
                assert np.hypot(o.x - p.x, o.y - p.y) >= o.r + p.r
                assert abs(o.x - p.x) >= cg._MARGIN - 1e-6 and abs(o.y - p.y) >= cg._MARGIN - 1e-6


def test_render_speed():
    scenes = [generate_scene(np.random.default_rng(s)) for s in range(60)]
    render_scene(scenes[0], 96)
    t = time.perf_counter()
    for sc in scenes:
        render_scene(sc, 96)
    per_image = (time.perf_counter() - t) / len(scenes)
    assert per_image < 0.05, f"{per_image * 1e3:.1f} ms per image"


# --------------------------------------------------------------------------- balance

def test_yes_no_balanced_per_family(big):
    fams, answers = big.families_of(), big.answers()
    total = Counter()
    for f in BINARY:
        got = [a for a, ff in zip(answers, fams) if ff == f]
        assert len(got) >= 50, (f, len(got))
        assert set(got) == {"yes", "no"}
        frac = got.count("yes") / len(got)
        assert 0.45 <= frac <= 0.55, (f, frac, len(got))
        total.update(got)
    assert 0.47 <= total["yes"] / sum(total.values()) <= 0.53


@pytest.fixture(scope="module")
def wide() -> CLEVRStyle:
    ds = CLEVRStyle("train", num_images=1500, questions_per_image=3, seed=0)
    ds.answers()  # scene graphs and questions only
    return ds


def _named_kinds(question: str) -> tuple[str, ...]:
    words = set(re.findall(r"[a-z]+", question.lower()))
    values = {"size": cg.SIZES, "color": tuple(COLORS), "material": cg.MATERIALS,
              "shape": tuple(SHAPES) + tuple(s + "s" for s in SHAPES)}
    return tuple(k for k, vs in values.items() if words & set(vs))


def test_binary_question_wording_does_not_tell_the_answer(wide):
    """The words that name what is compared or looked for are chosen before the target answer:
    every compared attribute of ``compare_attribute`` and every kind of ``exist`` and
    ``exist_pattern`` filter comes with both answers about equally (the old generator tied the compared attribute to the
    answer: "same material" was "no" in 314 of 316 questions)."""
    by = {}
    for i in range(wide.num_images):
        for q, a, f in wide.questions(i):
            if f == "compare_attribute":
                key = (f, re.search(r"same (\w+) as", q).group(1))
            elif f in ("exist", "exist_pattern"):
                key = (f, _named_kinds(q))
            else:
                continue
            by.setdefault(key, []).append(a)
    compared = {k[1] for k in by if k[0] == "compare_attribute"}
    assert compared == {"size", "color", "material", "shape"}
    checked = 0
    for key, got in by.items():
        if len(got) < 40:
            continue
        checked += 1
        frac = got.count("yes") / len(got)
        assert 0.3 <= frac <= 0.7, (key, frac, len(got))
    assert checked >= 10, by.keys()


def test_count_answers_spread(big):
    got = [a for a, f in zip(big.answers(), big.families_of()) if f == "count"]
    c = Counter(got)
    assert len(c) >= 6, c
    assert max(c.values()) / len(got) <= 0.3, c


def test_categorical_answers_spread(big):
    ans, fams = big.answers(), big.families_of()
    pat = Counter(a for a, f in zip(ans, fams) if f == "query_pattern")
    assert set(pat) == {"plain", "striped", "dotted"}
    assert min(pat.values()) / sum(pat.values()) >= 0.2, pat
    qa = Counter(a for a, f in zip(ans, fams) if f == "query_attribute")
    assert len(qa) >= 10, qa  # colours, shapes, sizes and materials all asked
    assert Counter(fams).keys() == set(FAMILIES)


# --------------------------------------------------------------------------- question semantics

_WORD2ATTR = {w: a for a, vals in cg._VALUES.items() for w in vals}


def _filter_from_words(words: list[str]) -> dict[str, str]:
    f = {}
    for w in words:
        w1 = w[:-1] if w.endswith("s") and w[:-1] in SHAPES else w
        if w1 in _WORD2ATTR:
            f[_WORD2ATTR[w1]] = w1
    return f


def _match(objs: list[dict], f: dict[str, str], pattern: str | None = None) -> list[dict]:
    return [o for o in objs if all(o[a] == v for a, v in f.items()) and (pattern is None or o["pattern"] == pattern)]


def test_questions_are_answered_correctly(big):
    """Independent re-evaluation of count, exist, query and pattern questions from the scene."""
    checked = Counter()
    for i in range(big.num_images):
        objs = [o.to_dict() for o in big.scene(i)]
        for q, a, fam in big.questions(i):
            words = re.findall(r"[a-z]+", q.lower())
            if fam == "count":
                m = re.match(r"(?:How many|What number of) (.*) are there\?", q)
                assert m, q
                assert a == str(len(_match(objs, _filter_from_words(m.group(1).split())))), q
            elif fam == "exist":
                f = _filter_from_words(words)
                assert a == ("yes" if _match(objs, f) else "no"), q
            elif fam == "exist_pattern":
                p = "striped" if "striped" in words else "dotted"
                f = _filter_from_words(words)
                assert a == ("yes" if _match(objs, f, p) else "no"), q
                # the LR part matches a small object, so the answer hinges on the pattern
                assert any(o["size"] == "small" for o in _match(objs, f)), q
            elif fam == "query_pattern":
                m = re.match(r"(?:What pattern does the (.*) have|What is the surface pattern of the (.*))\?", q)
                hits = _match(objs, _filter_from_words((m.group(1) or m.group(2)).split()))
                assert len(hits) == 1 and hits[0]["size"] == "small" and hits[0]["pattern"] == a, q
            elif fam == "query_attribute" and q.startswith("What color is the "):
                hits = _match(objs, _filter_from_words(q[len("What color is the "):-1].split()))
                assert len(hits) == 1 and hits[0]["color"] == a, q
            else:
                continue
            checked[fam] += 1
    assert all(checked[f] >= 20 for f in ("count", "exist", "exist_pattern", "query_pattern")), checked


def test_spatial_questions_resolve_uniquely(big):
    rel_fn = {"to the left of": lambda o, r: o["x"] < r["x"], "to the right of": lambda o, r: o["x"] > r["x"],
              "in front of": lambda o, r: o["y"] > r["y"], "behind": lambda o, r: o["y"] < r["y"]}
    n = 0
    for i in range(big.num_images):
        objs = [o.to_dict() for o in big.scene(i)]
        for q, a, fam in big.questions(i):
            if fam != "spatial_query" or not q.startswith("What color is the "):
                continue
            body = q[len("What color is the "):-1]
            rel = next(r for r in rel_fn if f" {r} the " in body)
            tgt, ref = body.split(f" {rel} the ")
            refs = _match(objs, _filter_from_words(ref.split()))
            assert len(refs) == 1, q
            among = [o for o in objs if rel_fn[rel](o, refs[0])]
            tg = _match(among, _filter_from_words(tgt.split()))
            assert len(tg) == 1 and tg[0]["color"] == a, q
            n += 1
    assert n >= 5


# --------------------------------------------------------------------------- HR-only details

def test_only_pattern_families_need_hr(big):
    assert {f for f, v in NEEDS_HR.items() if v} == {"query_pattern", "exist_pattern"}
    for i in range(big.num_images):
        for q, _a, fam in big.questions(i):
            mentions = bool(re.search(r"\b(pattern|striped|dotted)\b", q))
            assert mentions == NEEDS_HR[fam], q
    ex = next(big[k] for k in range(len(big)) if big[k].meta["family"] == "query_pattern")
    assert ex.meta["needs_hr"] and ex.answer in ("plain", "striped", "dotted")


def _pattern_energy(objs: list[SceneObject], S: int = 96) -> list[tuple[str, float, float, float]]:
    """(pattern, HR RMS, LR/HR energy ratio for 4x area pooling, same for antialiased bilinear)."""
    a = torch.from_numpy(render_scene(objs, S)).permute(2, 0, 1)[None]
    b = torch.from_numpy(render_scene(objs, S, patterns=False)).permute(2, 0, 1)[None]
    out = []
    for o in objs:
        if o.pattern == "plain":
            continue
        cx, cy, r = o.x * S, o.y * S, o.r * S
        x0, x1 = int((cx - r) // 4 * 4), int(-(-(cx + r) // 4) * 4)
        y0, y1 = int((cy - r) // 4 * 4), int(-(-(cy + r) // 4) * 4)
        hr = (a - b)[..., y0:y1, x0:x1].pow(2).mean().item()
        lr_pool = (F.avg_pool2d(a, 4) - F.avg_pool2d(b, 4))[..., y0 // 4:y1 // 4, x0 // 4:x1 // 4]
        da = F.interpolate(a, size=S // 4, mode="bilinear", antialias=True)
        db = F.interpolate(b, size=S // 4, mode="bilinear", antialias=True)
        lr_aa = (da - db)[..., y0 // 4:y1 // 4, x0 // 4:x1 // 4]
        out.append((o.pattern, hr ** 0.5, lr_pool.pow(2).mean().item() / hr, lr_aa.pow(2).mean().item() / hr))
    return out


def test_pattern_visible_at_hr_and_gone_after_4x_downsampling():
    rows = [r for s in range(8) for r in _pattern_energy(generate_scene(np.random.default_rng(s)))]
    assert {p for p, *_ in rows} == {"striped", "dotted"}
    for pattern, hr_rms, pool_ratio, aa_ratio in rows:
        assert hr_rms > 0.04, (pattern, hr_rms)         # clearly visible at HR (> 10 grey levels RMS)
        assert pool_ratio < 0.15, (pattern, pool_ratio)  # >= ~7x less energy after 4x area pooling
        assert aa_ratio < 0.05, (pattern, aa_ratio)      # and after antialiased bilinear 4x
    assert np.mean([r[2] for r in rows]) < 0.06


def test_pattern_check_can_fail(monkeypatch):
    """A coarse (period-8) pattern survives 4x downsampling: the check above would catch it."""
    def coarse(pattern, ix, iy):
        return np.where((ix // 4) % 2 == 0, 1.0, -1.0).astype(np.float32)
    monkeypatch.setattr(cg, "_pattern_field", coarse)
    rows = [r for s in range(4) for r in _pattern_energy(generate_scene(np.random.default_rng(s)))]
    assert np.mean([r[2] for r in rows]) > 0.2


def test_pattern_variance_in_box_drops():
    """Plain variance check: the in-box pixel variance of a patterned small object collapses at LR."""
    S = 96
    for s in range(20):
        objs = generate_scene(np.random.default_rng(s))
        o = next((o for o in objs if o.pattern == "striped"), None)
        if o is not None:
            break
    # isolate the object on a flat background, uniformly shaded: only the pattern varies inside the box
    o = SceneObject("cube", o.color, "small", "rubber", "striped", 0.5, 0.5, o.r)
    img = torch.from_numpy(render_scene([o], S)).permute(2, 0, 1)[None]
    box_hr = img[..., 44:52, 44:52]  # 8x8 px fully inside the cube (centre 48, half side 4.6 px)
    box_lr = F.avg_pool2d(img, 4)[..., 11:13, 11:13]  # the same area after 4x pooling
    var_hr = box_hr.flatten(2).var(dim=2).mean().item()
    var_lr = box_lr.flatten(2).var(dim=2).mean().item()
    assert var_hr > 1e-2 and var_hr > 20 * var_lr, (var_hr, var_lr)
    plain = torch.from_numpy(render_scene([SceneObject(*(o.shape, o.color, o.size, o.material, "plain"),
                                                       o.x, o.y, o.r)], S)).permute(2, 0, 1)[None]
    assert plain[..., 44:52, 44:52].flatten(2).var(dim=2).mean().item() < var_hr / 20

# --------------------------------------------------------------------------- cogent & captions

def _combos(ds: CLEVRStyle) -> set[tuple[str, str]]:
    return {(o.shape, o.color) for i in range(ds.num_images) for o in ds.scene(i) if o.shape != "sphere"}


def test_cogent_conditions_disjoint():
    a = CLEVRStyle("train", 80, 1, cogent="A")
    b = CLEVRStyle("test", 80, 1, cogent="B")
    ca, cb = _combos(a), _combos(b)
    assert ca and cb and not (ca & cb)
    for shape in ("cube", "cylinder"):
        assert {c for s, c in ca if s == shape} <= set(COGENT_COLORS["A"][shape])
        assert {c for s, c in cb if s == shape} <= set(COGENT_COLORS["B"][shape])
    # B uses exactly the combinations held out of A
    held_out = {(s, c) for s in ("cube", "cylinder") for c in COLORS if c not in COGENT_COLORS["A"][s]}
    assert cb <= held_out and len(cb) >= 6
    spheres = {o.color for i in range(80) for o in b.scene(i) if o.shape == "sphere"}
    assert len(spheres) >= 6  # spheres unconstrained
    assert CLEVRStyle("train", 2, 1, cogent="A").image_seed(0) == CLEVRStyle("train", 2, 1).image_seed(0)
    assert not torch.equal(a.image(0), CLEVRStyle("train", 1, 1).image(0))


def test_captions_mention_every_object_left_to_right():
    ds = CLEVRStyle("test", 15, task="caption")
    assert len(ds) == 15
    for i in range(15):
        ex = ds[i]
        assert ex.task == "caption" and ex.question is None
        objs = sorted(ds.scene(i), key=lambda o: o.x)
        parts = ex.answer.split(", ")
        assert len(parts) == len(objs)
        for part, o in zip(parts, objs):
            words = part.split()
            assert words[0] in ("a", "an")
            assert {o.size, o.color, o.material, o.shape} <= set(words)
            assert (o.pattern in words) == (o.pattern != "plain")
    assert caption(ds.scene(0)) == ds[0].answer
