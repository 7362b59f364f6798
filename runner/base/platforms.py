"""Known instance types: what a node of each type can give a pod."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    """An instance type's GPUs, EFA interfaces, architecture and GPU model, as the lints and preflight know it."""

    name: str
    gpus: int
    efa: int
    arch: str = "amd64"
    gpu_model: str = ""
    cuda_arch: str = ""


INSTANCE_TYPES = {
    t.name: t
    for t in (
        InstanceType("p5.48xlarge", 8, 32, gpu_model="H100", cuda_arch="90"),
        InstanceType("p5e.48xlarge", 8, 32, gpu_model="H200", cuda_arch="90"),
        InstanceType("p5en.48xlarge", 8, 16, gpu_model="H200", cuda_arch="90"),
        InstanceType("p6-b200.48xlarge", 8, 8, gpu_model="B200", cuda_arch="100"),
        InstanceType("p4d.24xlarge", 8, 4, gpu_model="A100", cuda_arch="80"),
        InstanceType("p4de.24xlarge", 8, 4, gpu_model="A100", cuda_arch="80"),
        InstanceType("g6e.48xlarge", 8, 4, gpu_model="L40S", cuda_arch="89"),
        InstanceType("local", 0, 0),
    )
}
