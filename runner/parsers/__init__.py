"""Tool output parsers, one module per tool. Importing this package registers them all in runner.parse.PARSERS."""
from . import mooncake, nccl_tests, regex, sglang_bench_serving, uccl_ep  # noqa: F401
