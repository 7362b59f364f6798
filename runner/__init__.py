"""scenario-runner: declarative YAML scenarios that prove a GPU cluster is ready for disaggregated inference."""

__version__ = "0.1.0"
