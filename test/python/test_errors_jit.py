"""
User mistakes through sparcc.jit and compiled programs: each one is a
sparcc.SparccError with one clear message (what, where, what was expected),
never a Python traceback from inside sparcc, torch.export or MLIR.
"""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import sparcc
from sparcc.driver import compile_program


def _line_of(marker: str) -> int:
    """The line of this file that contains `marker` (so tests survive edits above them)."""
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(i + 1 for i, line in enumerate(lines) if marker in line and "_line_of" not in line)


def _assert_clean(err: BaseException) -> str:
    msg = str(err)
    assert isinstance(err, sparcc.SparccError)
    assert "Traceback" not in msg
    assert msg.strip() and msg.splitlines()[0].strip()
    return msg


# ----------------------------------------------------------------------------
# unsupported ops name the ATen op and the user's file:line
# ----------------------------------------------------------------------------


class QrModel(nn.Module):
    def forward(self, x):
        y = x * 2
        return torch.linalg.qr(y.reshape(2, 2)).Q  # <- unsupported: qr


def test_unsupported_op_in_module_names_op_and_line():
    with pytest.raises(sparcc.UnsupportedOpError) as info:
        sparcc.jit(QrModel())(torch.randn(4))
    msg = _assert_clean(info.value)
    assert "aten.linalg_qr" in msg
    assert f"{__file__}:{_line_of('# <- unsupported: qr')}" in msg


class SeveralUnsupported(nn.Module):
    def forward(self, x):
        a = torch.mode(x, dim=-1, keepdim=True).values  # <- unsupported: first mode
        b = torch.mode(a * 2, dim=-1, keepdim=True).values
        return torch.linalg.qr(a + b).Q  # <- unsupported: then qr


def test_every_unsupported_op_is_listed_once_with_count_and_first_line():
    with pytest.raises(sparcc.UnsupportedOpError) as info:
        sparcc.jit(SeveralUnsupported())(torch.randn(3, 4))
    msg = _assert_clean(info.value)
    assert msg.splitlines()[0] == "2 unsupported operations in the model:"
    mode_line = next(line for line in msg.splitlines() if "aten.mode" in line)
    assert "(2x)" in mode_line and f"{__file__}:{_line_of('# <- unsupported: first mode')}" in mode_line
    qr_line = next(line for line in msg.splitlines() if "aten.linalg_qr" in line)
    assert "(1x)" in qr_line and f"{__file__}:{_line_of('# <- unsupported: then qr')}" in qr_line


def mode_fn(x):
    values, _ = torch.mode(x, dim=-1)  # <- unsupported: mode
    return values + 1


def test_unsupported_op_in_function_names_op_and_line():
    with pytest.raises(sparcc.UnsupportedOpError) as info:
        sparcc.jit(mode_fn)(torch.randn(3, 5))
    msg = _assert_clean(info.value)
    assert "aten.mode" in msg
    assert f"{__file__}:{_line_of('# <- unsupported: mode')}" in msg


class Block(nn.Module):
    def forward(self, x):
        return torch.linalg.qr(x).Q  # <- unsupported: qr in a submodule


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.block = Block()

    def forward(self, x):
        return self.block(self.lin(x))


def test_unsupported_op_in_submodule_names_innermost_line():
    with pytest.raises(sparcc.UnsupportedOpError) as info:
        sparcc.jit(Outer().eval())(torch.randn(2, 4))
    msg = _assert_clean(info.value)
    assert "aten.linalg_qr" in msg
    assert f"{__file__}:{_line_of('# <- unsupported: qr in a submodule')}" in msg


def test_unsupported_op_in_a_torch_layer_names_the_layer_and_the_call():
    model = nn.Sequential(nn.Linear(4, 4), nn.FractionalMaxPool2d(2, output_size=2)).eval()
    with pytest.raises(sparcc.UnsupportedOpError) as info:
        sparcc.jit(model)(torch.randn(1, 1, 4, 4))  # <- the call of a model made of torch layers
    msg = _assert_clean(info.value)
    assert "layer '1' (FractionalMaxPool2d)" in msg
    assert f"called from {__file__}:{_line_of('# <- the call of a model made of torch layers')}" in msg


def test_unsupported_variant_of_supported_op():
    grid = torch.rand(1, 3, 3, 2) * 2 - 1

    def f(x):
        return nn.functional.grid_sample(x, grid, mode="bicubic", align_corners=False)  # <- unsupported: bicubic

    with pytest.raises(sparcc.UnsupportedOpError) as info:
        sparcc.jit(f)(torch.randn(1, 1, 4, 4))
    msg = _assert_clean(info.value)
    assert "bicubic" in msg
    assert f"{__file__}:{_line_of('# <- unsupported: bicubic')}" in msg


def test_boolean_mask_indexing_is_rejected_clearly():
    def f(x):
        return x[x > 0]  # a data-dependent shape

    with pytest.raises(sparcc.SparccError) as info:
        sparcc.jit(f)(torch.randn(6))
    _assert_clean(info.value)


def test_data_dependent_branch_names_its_line():
    """A Python branch on a tensor's value (Longformer's `if is_global_attn:`
    after `.any().item()`) stops torch.export: the message names the line."""

    def f(x):
        if (x > 0).any().item():  # the branch torch.export cannot take
            return x * 2
        return x

    with pytest.raises(sparcc.SparccError) as info:
        sparcc.jit(f)(torch.randn(6))
    _assert_clean(info.value)
    message = str(info.value)
    assert "data-dependent expression" in message, message
    assert "test_errors_jit.py:" in message and "(x > 0).any().item()" in message, message


# ----------------------------------------------------------------------------
# training-mode layers
# ----------------------------------------------------------------------------


def test_dropout_in_train_mode_drops_values_and_warns():
    """As in PyTorch: each call drops other values (test_ops_random.py checks
    the rate); the warning names the layer's line and model.eval()."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)).train()
    with pytest.warns(UserWarning, match=r"dropout in training mode at .*eval\(\)"):
        out = sparcc.jit(model)(torch.randn(64, 4))
    assert 0.2 < float((out == 0).double().mean()) < 0.8


def test_dropout_in_eval_mode_is_identity():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)).eval()
    x = torch.randn(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(sparcc.jit(model)(x), model(x), atol=1e-5, rtol=1e-5)


def test_batch_norm_in_train_mode():
    model = nn.BatchNorm1d(4).train()
    with pytest.raises(sparcc.SparccError) as info:
        sparcc.jit(model)(torch.randn(3, 4))
    msg = _assert_clean(info.value)
    assert "batch_norm" in msg and "eval()" in msg


def test_batch_norm_without_running_statistics_is_not_training():
    """F.batch_norm(w, None, None, training=True) normalises by the batch's
    own statistics and updates nothing: BiT standardises its conv weights so
    in eval mode. It compiles, and matches."""

    class StdConv(nn.Conv2d):
        def forward(self, x):
            w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, training=True,
                             momentum=0.0, eps=1e-6).reshape_as(self.weight)
            return F.conv2d(x, w, self.bias, self.stride, self.padding)

    torch.manual_seed(0)
    model, x = StdConv(3, 8, 3, padding=1).eval(), torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(sparcc.jit(model)(x), model(x), atol=1e-4, rtol=1e-4)


# ----------------------------------------------------------------------------
# JIT call checks
# ----------------------------------------------------------------------------


def two_inputs(x, y):
    return x + y


def test_jit_wrong_number_of_args():
    fast = sparcc.jit(two_inputs)
    with pytest.raises(sparcc.InputMismatchError) as info:
        fast(torch.randn(3))
    msg = _assert_clean(info.value)
    assert "two_inputs" in msg and "expected 2" in msg and "got 1" in msg
    with pytest.raises(sparcc.InputMismatchError) as info:
        fast(torch.randn(3), torch.randn(3), torch.randn(3))
    assert "got 3" in _assert_clean(info.value)


def test_jit_non_tensor_argument():
    fast = sparcc.jit(two_inputs)
    with pytest.raises(sparcc.InputMismatchError) as info:
        fast(torch.randn(3), 2.0)
    msg = _assert_clean(info.value)
    assert "argument 1" in msg and "torch.Tensor" in msg and "float" in msg


@pytest.mark.parametrize("dtype", [torch.uint64, torch.complex32, torch.float8_e4m3fn])
def test_jit_unsupported_dtype(dtype):
    fast = sparcc.jit(lambda x: x.to(torch.float32) * 2)
    with pytest.raises(sparcc.SparccError) as info:
        fast(torch.ones(2, 3).to(dtype))
    msg = _assert_clean(info.value)
    assert str(dtype).removeprefix("torch.") in msg
    assert "float32" in msg


def test_jit_unknown_target():
    with pytest.raises(sparcc.SparccError) as info:
        sparcc.jit(two_inputs, target="tpu")
    msg = _assert_clean(info.value)
    assert "'tpu'" in msg and "cpu" in msg


def test_jit_decorator_form_and_unknown_target():
    @sparcc.jit(target="cpu")
    def f(x):
        return x * 2

    x = torch.randn(5)
    torch.testing.assert_close(f(x), x * 2)
    with pytest.raises(sparcc.SparccError, match="choose one of: cpu"):
        sparcc.jit(target="fpga")(two_inputs)


def test_jit_non_tensor_output():
    def f(x):
        return x.shape[0]

    with pytest.raises(sparcc.SparccError) as info:
        sparcc.jit(f)(torch.randn(3))
    assert "return" in _assert_clean(info.value)


def test_jit_data_dependent_control_flow():
    def f(x):
        if x.sum() > 0:
            return x + 1
        return x - 1

    with pytest.raises(sparcc.SparccError) as info:
        sparcc.jit(f)(torch.randn(3))
    msg = _assert_clean(info.value)
    assert "torch.export" in msg


# ----------------------------------------------------------------------------
# compiled programs check every call against the signature they were built for
# ----------------------------------------------------------------------------


LINEAR = nn.Linear(4, 3).eval()


@pytest.fixture(scope="module")
def program():
    return compile_program(LINEAR, [torch.randn(2, 4)])


def test_program_runs(program):
    x = torch.randn(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(program(x), LINEAR(x), atol=1e-5, rtol=1e-5)


def test_program_wrong_shape(program):
    with pytest.raises(sparcc.InputMismatchError) as info:
        program(torch.randn(5, 4))
    msg = _assert_clean(info.value)
    assert "input 0" in msg and "[2, 4]" in msg and "[5, 4]" in msg


def test_program_wrong_rank(program):
    with pytest.raises(sparcc.InputMismatchError) as info:
        program(torch.randn(2, 4, 1))
    msg = _assert_clean(info.value)
    assert "[2, 4]" in msg and "[2, 4, 1]" in msg


def test_program_wrong_dtype(program):
    with pytest.raises(sparcc.InputMismatchError) as info:
        program(torch.randn(2, 4, dtype=torch.float64))
    msg = _assert_clean(info.value)
    assert "float32" in msg and "float64" in msg


def test_program_wrong_arg_count_and_kind(program):
    with pytest.raises(sparcc.InputMismatchError) as info:
        program()
    assert "expected 1 input" in _assert_clean(info.value)
    with pytest.raises(sparcc.InputMismatchError) as info:
        program([[1.0] * 4] * 2)
    assert "torch.Tensor" in _assert_clean(info.value)


def test_program_non_contiguous_input_is_accepted(program):
    x = torch.randn(4, 2).t()
    assert not x.is_contiguous()
    with torch.no_grad():
        torch.testing.assert_close(program(x), LINEAR(x), atol=1e-5, rtol=1e-5)


def test_compile_program_unknown_target():
    with pytest.raises(sparcc.SparccError) as info:
        compile_program(nn.Linear(2, 2), [torch.randn(1, 2)], target="tpu")
    msg = _assert_clean(info.value)
    assert "'tpu'" in msg and "cpu" in msg


@pytest.mark.parametrize("fn, x, words", [
    (torch.nn.Linear(16, 4), torch.randn(2, 16, dtype=torch.float64), "same dtype"),
    (torch.nn.Linear(16, 4), torch.randint(0, 3, (2, 16)), "same dtype"),
    (lambda x: torch.softmax(x, -1), torch.randint(0, 3, (2, 16), dtype=torch.int32), "not implemented for 'Int'"),
    (lambda x: x @ x.T, torch.randint(0, 3, (2, 16)).bool(), "not implemented for 'Bool'"),
])
def test_inputs_that_pytorch_rejects_get_its_message(fn, x, words):
    """torch.export traces with fake tensors, which accept these; the IR then
    fails to verify, and the user gets PyTorch's own error, not 'a sparcc bug'."""
    with pytest.raises(sparcc.errors.InputMismatchError, match=f"PyTorch itself rejects these inputs.*{words}"):
        sparcc.jit(fn, threads=1, cache=False)(x)


def test_jit_threads_over_the_pool_size():
    with pytest.raises(sparcc.errors.InputMismatchError, match="from 1 to 255"):
        sparcc.jit(torch.nn.Linear(2, 2), threads=100000)
