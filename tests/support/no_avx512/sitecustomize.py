# Emulates a CPU without AVX-512 (an AMD EPYC of the Zen 3 kind) for the notebook checks: torch's CPU kernels are
# limited to AVX2 by ATEN_CPU_CAPABILITY/ONEDNN_MAX_CPU_ISA, and the runtime is told there is no native bf16.
import os
if os.environ.get("SEGEDU_EMULATE_NO_AVX512"):
    import torch.cpu
    torch.cpu._is_avx512_bf16_supported = lambda: False
    torch.cpu._is_amx_tile_supported = lambda: False
