"""Unsigned integer tensors (uint8 above all: images, masks, codes) and the
integer shifts, differential against eager PyTorch: values and dtypes must be
equal, wrap-around included (PyTorch's uint8 arithmetic is modulo 256)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import sparcc

U = torch.tensor([0, 1, 100, 200, 255, 128, 7, 64], dtype=torch.uint8)
V = torch.tensor([3, 255, 200, 100, 1, 128, 9, 0], dtype=torch.uint8)

CASES = {
    "add_wraps": lambda a, b: a + b,
    "sub_wraps": lambda a, b: a - b,
    "mul_wraps": lambda a, b: a * b,
    "neg": lambda a, b: -a,
    "bitwise_not": lambda a, b: ~a,
    "and_or_xor": lambda a, b: (a & b) | (a ^ 0x5A),
    "compare": lambda a, b: a > b,
    "compare_scalar": lambda a, b: a >= 128,
    "true_div": lambda a, b: a / (b | 1),
    "floor_div": lambda a, b: a // (b | 1),
    "remainder": lambda a, b: a % (b | 1),
    "maximum": lambda a, b: torch.maximum(a, b),
    "sum_to_int64": lambda a, b: a.sum(),
    "prod_to_int64": lambda a, b: (a | 1)[:4].prod(),
    "cumsum": lambda a, b: a.cumsum(0),
    "amax_argmax": lambda a, b: (a.amax(), a.argmax()),
    "sort": lambda a, b: a.sort().values,
    "to_float": lambda a, b: a.float() / 255,
    "to_int8_wraps": lambda a, b: a.to(torch.int8),
    "from_int64_wraps": lambda a, b: (a.to(torch.int64) * 3 - 500).to(torch.uint8),
    "from_bool": lambda a, b: (a > 50).to(torch.uint8) + (b > 50).to(torch.uint8),
    "mixed_int64": lambda a, b: a + torch.arange(8),
    "mixed_int8_to_int16": lambda a, b: a + b.to(torch.int8),
    "scalar_sub_wraps": lambda a, b: a - 3,
    "rsub_wraps": lambda a, b: 10 - a,
    "pow": lambda a, b: a**2,
    "clamp": lambda a, b: a.clamp(10, 250),
    "where": lambda a, b: torch.where(a > 100, a, b),
    "pad": lambda a, b: F.pad(a, (1, 2), value=9),
    "abs_sign": lambda a, b: (a.abs(), a.sign()),
    "view_ops": lambda a, b: a.reshape(2, 4).t().flip(0).contiguous(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_uint8_ops_match_eager(name: str) -> None:
    fn = CASES[name]
    want = fn(U, V)
    got = sparcc.jit(fn)(U, V)
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        assert g.dtype == w.dtype
        if w.is_floating_point():
            torch.testing.assert_close(g, w)
        else:
            assert torch.equal(g, w), (g, w)


def test_float_to_uint8_truncates() -> None:
    x = torch.tensor([0.0, 0.2, 3.9, 127.5, 254.99, 255.0])
    assert torch.equal(sparcc.jit(lambda t: t.to(torch.uint8))(x), x.to(torch.uint8))


class ImageModel(torch.nn.Module):
    """A uint8 image in, normalised, a convolution, and a uint8 mask out
    through a uint8 lookup buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("lut", torch.arange(256, dtype=torch.uint8).flip(0))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = image.float() / 255 - self.mean
        y = self.conv(x)
        mask = (y > 0).to(torch.uint8) * 200 + image[:, :1].max(dim=1).values
        return y, self.lut[image.to(torch.int64)], mask


def test_uint8_image_model_matches_eager() -> None:
    model = ImageModel().eval()
    image = torch.randint(0, 256, (1, 3, 9, 11), dtype=torch.uint8)
    with torch.no_grad():
        want = model(image)
    got = sparcc.jit(model)(image)
    torch.testing.assert_close(got[0], want[0], atol=1e-5, rtol=1e-5)
    for g, w in zip(got[1:], want[1:]):
        assert g.dtype == torch.uint8 and torch.equal(g, w)


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32])
def test_wider_unsigned_types(dtype: torch.dtype) -> None:
    """uint16/uint32: the ops eager implements for them (bitwise, mul, casts, sum)."""
    top = torch.iinfo(dtype).max
    x = torch.tensor([0, 1, top, top - 5, 300, 77], dtype=dtype)
    fn = lambda t: (t & 0xF0F0, t * 3, t.float(), t.to(torch.int64), t.sum())  # noqa: E731
    for g, w in zip(sparcc.jit(fn)(x), fn(x)):
        assert g.dtype == w.dtype and torch.equal(g, w), (g, w)


SIGNED = [torch.int8, torch.int16, torch.int32, torch.int64]


@pytest.mark.parametrize("dtype", [*SIGNED, torch.uint8], ids=str)
def test_shifts_match_eager_for_every_amount(dtype: torch.dtype) -> None:
    """Amounts below 0 and at or past the width included: PyTorch defines
    those (0 for a left shift, the sign fill for a right shift)."""
    width = dtype.itemsize * 8
    lo = -2 if dtype.is_signed else 0
    amounts = torch.arange(lo, width + 3).to(dtype)
    info = torch.iinfo(dtype)
    values = torch.tensor([1, 5, 77, info.max, info.min, info.min + 3, -1 if dtype.is_signed else 200]).to(dtype)
    a = values.repeat_interleave(len(amounts))
    b = amounts.repeat(len(values))
    fns = {
        "lshift": lambda x, y: x << y,
        "rshift": lambda x, y: x >> y,
        "lshift_scalar": lambda x, y: x << 3,
        "rshift_past_width": lambda x, y: x >> (width + 5),
        "scalar_lshift": lambda x, y: torch.bitwise_left_shift(5, y),
        "functional": lambda x, y: torch.bitwise_right_shift(x, y) ^ torch.bitwise_left_shift(x, 1),
    }
    for name, fn in fns.items():
        want = fn(a, b)
        got = sparcc.jit(fn)(a, b)
        assert got.dtype == want.dtype and torch.equal(got, want), (name, (got != want).nonzero().flatten()[:5])


def test_shift_of_floats_is_refused_with_a_message() -> None:
    with pytest.raises(sparcc.SparccError, match="shifts integer tensors"):
        sparcc.jit(lambda x: torch.ops.aten.bitwise_left_shift.Tensor_Scalar(x.to(torch.int64).float(), 1))(
            torch.ones(3)
        )
