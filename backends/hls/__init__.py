"""The hls target: PyTorch models as Vitis-style HLS C++ for FPGAs.

    with sparcc.backends.hls.options(schedule={"fc1": {"unroll": 4}}, precision={"*": "ap_fixed<16,6>"}):
        fast = sparcc.jit(model, target="hls")   # the C simulation, called in-process
        fast(x)

Files: lower.py (linalg -> loops), lower_quant.py / lower_sparse.py
(quantised and sparse layers as nn ops and loops), sources.py (the user's
source lines through the lowering), schedule.py (customisation primitives
as IR attributes), emit.py (loops -> C++), dataflow.py (layers as
processes over streams), qor.py (analytic QoR model), pragmas.py (the
pragma checker), fixed.py (ap_fixed in numpy), interp.py (the bit-exact
model), project.py (the project's files), target.py (the Target).
"""

from sparcc.backends.hls.target import HlsTarget, options

__all__ = ["HlsTarget", "options"]
