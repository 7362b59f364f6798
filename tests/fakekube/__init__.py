"""A fake Kubernetes API server with scripted controllers, for testing code that uses the official client.

    from tests.fakekube import FakeKube, Behavior, Match, node, GPU_TAINT

See kube.FakeKube for the test-facing API, behaviors.Behavior for what pods do,
controllers for what each workload kind turns into.
"""
from .api import Ctx
from .behaviors import AUTO, Behavior, Match, PodOrigin, PodPlacement, Script
from .errors import ApiError
from .handler import Request
from .kube import FakeKube
from .seeds import GPU_TAINT, INSTANCE_TYPES, STANDARD_CRDS, crd, crd_from_file, node

__all__ = ["AUTO", "ApiError", "Behavior", "Ctx", "FakeKube", "GPU_TAINT", "INSTANCE_TYPES", "Match", "PodOrigin", "PodPlacement",
           "Request", "STANDARD_CRDS", "Script", "crd", "crd_from_file", "node"]
