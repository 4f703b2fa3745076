"""
The reference target: an interpreter of sparcc's IR, the oracle that every
other target is tested against.

    from sparcc.backends.ref import interpret
    imported = import_module(model, args)                  # nn dialect
    apply_sparsity(imported, ...); apply_quant(imported, ...)  # sparse / quant ops
    outputs = interpret(imported.module, list(args), imported.weights)

It runs the entry function as the frontend and the weight passes leave it
(nn, sparse and quant ops; before lower-sparse, lower-quant and
convert-nn-to-linalg), one handler per op (interpreter.HANDLERS), with torch
CPU ops as the array library and the numpy references of the sparse and
quant formats for their storage. It never calls the model. An op without a
handler raises UnsupportedOpError naming it.

| file | holds |
| --- | --- |
| interpreter.py | the walk, the handler table, inputs, sizes, result checks |
| nn_ops.py | nn ops (and arith.constant) |
| sparse_ops.py | sparse ops; sparse storage from the weight store's buffers |
| quant_ops.py | quant ops; quantised weights from the kernel-layout buffers |
"""

from sparcc.backends.ref import nn_ops, quant_ops, sparse_ops  # noqa: F401 (they register the handlers)
from sparcc.backends.ref.interpreter import HANDLERS, interpret

__all__ = ["HANDLERS", "interpret"]
