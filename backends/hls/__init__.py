"""The hls target: PyTorch models as Vitis-style HLS C++ for FPGAs.

    with sparcc.backends.hls.options(schedule={"fc1": {"unroll": 4}}, precision={"*": "ap_fixed<16,6>"}):
        fast = sparcc.jit(model, target="hls")   # the C simulation, called in-process
        fast(x)

Files: lower.py (linalg -> loops), schedule.py (customisation primitives as
IR attributes), emit.py (loops -> C++), qor.py (analytic QoR model),
pragmas.py (the pragma checker), fixed.py (ap_fixed in numpy),
project.py (the project's files), target.py (the Target).
"""

from sparcc.backends.hls.target import HlsTarget, options

__all__ = ["HlsTarget", "options"]
