"""The SNR definition and the conversions, tested as inverse pairs."""
import math

import pytest
import torch

from channels.snr import (average_power, complex_to_real, ebno_db_to_snr_db, no_to_snr_db,
                          normalize_power, real_to_complex, snr_db_to_ebno_db, snr_db_to_no)


def test_snr_to_no_and_back():
    snr = torch.tensor([-10.0, 0.0, 3.0, 20.0])
    no = snr_db_to_no(snr)
    assert torch.allclose(no, torch.tensor([10.0, 1.0, 10 ** -0.3, 0.01]))
    assert torch.allclose(no_to_snr_db(no), snr, atol=1e-5)


def test_ebno_conversion_inverse():
    for bps, r in [(1, 1.0), (2, 0.5), (4, 0.5), (6, 0.75)]:
        snr = ebno_db_to_snr_db(3.0, bps, r)
        assert math.isclose(snr, 3.0 + 10 * math.log10(bps * r))
        assert math.isclose(snr_db_to_ebno_db(snr, bps, r), 3.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), [0.0, float("nan")]])
def test_nan_snr_rejected(bad):
    with pytest.raises(ValueError, match="finite"):
        snr_db_to_no(bad)


def test_normalize_power_per_example_and_differentiable():
    x = torch.randn(5, 40, dtype=torch.complex64) * torch.arange(1, 6).view(5, 1)
    x.requires_grad_(True)
    y = normalize_power(x)
    assert torch.allclose(average_power(y), torch.ones(5), atol=1e-5)
    y.real.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_real_complex_inverse_pair():
    r = torch.randn(3, 7, 10)
    c = real_to_complex(r)
    assert c.shape == (3, 7, 5) and c.dtype == torch.complex64
    assert torch.equal(complex_to_real(c), r)
    assert c[0, 0, 1] == torch.complex(r[0, 0, 2], r[0, 0, 3])
    with pytest.raises(ValueError):
        real_to_complex(torch.randn(3))
