"""Weight buffers bound to compiled programs (sparcc.backends.bind_weights):
a weight laid out differently from the model's tensor (a Linear weight read
transposed) is copied once per process, not once per program, and a weight
changed in place gets a new copy (weights are captured when a program is
built)."""

import torch

from sparcc.driver import compile_program


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.ReLU(), torch.nn.Linear(96, 32)).eval()


def _copies(program, model):
    """The program's weight buffers that are not the model's own tensors."""
    own = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return {w.untyped_storage().data_ptr() for w in program.weights} - own


def test_two_programs_of_one_model_share_their_weight_copies():
    model, x = _model(), torch.randn(16, 64)
    one = compile_program(model, (x,), threads=1, use_cache=False)
    two = compile_program(model, (torch.randn(5, 64),), threads=2, use_cache=False)
    assert len(_copies(one, model)) == 2  # both Linear weights, transposed
    assert _copies(one, model) == _copies(two, model)
    with torch.no_grad():
        torch.testing.assert_close(one(x), model(x))


def test_a_weight_changed_in_place_gets_a_new_copy():
    model, x = _model(), torch.randn(16, 64)
    before = compile_program(model, (x,), use_cache=False)
    with torch.no_grad():
        want_before = model(x)
        model[0].weight.data.mul_(-2)  # through .data: no version counter sees it
        want_after = model(x)
    after = compile_program(model, (x,), use_cache=False)
    assert len(_copies(before, model) & _copies(after, model)) == 1  # the second Linear's is still shared
    torch.testing.assert_close(after(x), want_after)
    torch.testing.assert_close(before(x), want_before)  # captured when it was built
