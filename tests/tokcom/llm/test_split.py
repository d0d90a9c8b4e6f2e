"""The split LLM: split == unsplit, KV cache == no cache, receiver uses only Z_hat."""
import pytest
import torch

from tokcom.llm import SplitLLM, build_causal_lm

CFG = dict(vocab_size=80, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)


@pytest.fixture(scope="module")
def split():
    torch.manual_seed(0)
    return SplitLLM(build_causal_lm(CFG).double().eval(), split_layer=2)


def test_split_equals_unsplit(split):
    ids, resp = torch.randint(0, 80, (3, 9)), torch.randint(0, 80, (3, 6))
    pe = split.embed(ids)
    a = split.decode(split.encode(pe), resp)
    b = split.unsplit_logits(pe, resp)
    assert a.shape == (3, 7, 80)
    assert torch.allclose(a, b, atol=1e-10)


def test_first_token_matches_plain_hf_forward(split):
    # for the first answer token the model is the ordinary causal LM
    ids = torch.randint(0, 80, (2, 7))
    ref = split.lm(input_ids=ids).logits[:, -1]
    got = split.decode(split.encode(split.embed(ids)))[:, 0]
    assert torch.allclose(got, ref, atol=1e-10)


def test_readout_at_full_depth_is_the_first_answer_token_and_shallower_differs(split):
    z = split.encode(split.embed(torch.randint(0, 80, (2, 7))))
    full = split.readout(z, split.num_layers - split.split_layer)
    assert torch.allclose(full, split.decode(z)[:, 0], atol=1e-10)
    assert not torch.allclose(split.readout(z, 1), full, atol=1e-3)
    with pytest.raises(ValueError, match="readout depth"):
        split.readout(z, 3)


def test_generation_with_and_without_cache_agree(split):
    z = split.encode(split.embed(torch.randint(0, 80, (4, 8))))
    a = split.generate(z, 7, use_cache=True)
    b = split.generate(z, 7, use_cache=False)
    assert a.shape == (4, 7) and torch.equal(a, b)
    # and the teacher-forced logits reproduce the greedy choice
    assert torch.equal(split.decode(z, a[:, :-1]).argmax(-1), a)


def test_eos_stops_and_pads(split):
    z = split.encode(split.embed(torch.randint(0, 80, (3, 8))))
    first = split.generate(z, 1)[:, 0]
    eos = int(first[0])
    out = split.generate(z, 5, eos_token_id=eos)
    assert out[0, 0] == eos and torch.all(out[0] == eos)


def test_receiver_depends_only_on_received_states(split):
    ids = torch.randint(0, 80, (2, 8))
    z = split.encode(split.embed(ids))
    a = split.generate(z.clone(), 5)
    # garbage in every transmitter-side tensor except z: the receiver never reads them
    split_ids_garbage = torch.randint(0, 80, (2, 8))
    _ = split.embed(split_ids_garbage)
    b = split.generate(z.clone(), 5)
    assert torch.equal(a, b)
    c = split.generate(z + 0.5 * torch.randn_like(z), 5)
    assert c.shape == a.shape


def test_bad_split_layer():
    lm = build_causal_lm(CFG)
    for k in (0, 4):
        with pytest.raises(ValueError, match="split_layer"):
            SplitLLM(lm, k)


def test_gradients_reach_both_halves(split):
    s = SplitLLM(build_causal_lm(CFG), 2)
    ids, resp = torch.randint(0, 80, (2, 6)), torch.randint(0, 80, (2, 4))
    logits = s.decode(s.encode(s.embed(ids)), resp[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), resp.flatten())
    loss.backward()
    for name, p in s.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
