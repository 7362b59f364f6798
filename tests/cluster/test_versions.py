"""cluster/versions.env is the one place of the control plane's versions; the preflight's install hints agree."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def versions() -> dict[str, str]:
    out, comment = {}, False
    for line in (REPO / "cluster" / "versions.env").read_text().splitlines():
        if not line.strip():
            comment = False
            continue
        if line.startswith("#"):
            comment = True
            continue
        key, _, value = line.partition("=")
        assert comment, f"{key} has no comment line above it"
        assert re.fullmatch(r"[A-Z0-9_]+", key) and value and not re.search(r"[\"'$ ]", value), line
        out[key] = value
        comment = False
    return out


def hints() -> str:
    """Every string of the runner's own code (wherever the preflight module lives)."""
    return "\n".join(p.read_text() for p in (REPO / "runner").rglob("*.py") if "cluster" not in p.parts)


def test_every_component_is_pinned_once():
    v = versions()
    assert set(v) == {"K8S_VERSION", "ETCD_VERSION", "KWOK_VERSION", "LWS_VERSION", "MPI_OPERATOR_VERSION", "GO_VERSION"}
    for tool, module, key in [("k8s", "k8s.io/kubernetes", "K8S_VERSION"), ("etcd", "go.etcd.io/etcd/server/v3", "ETCD_VERSION"),
                              ("kwok", "sigs.k8s.io/kwok", "KWOK_VERSION"), ("lws", "sigs.k8s.io/lws", "LWS_VERSION"),
                              ("mpi-operator", "github.com/kubeflow/mpi-operator", "MPI_OPERATOR_VERSION")]:
        gomod = (REPO / "cluster" / "tools" / tool / "go.mod").read_text()
        assert re.search(rf"^\s*(require\s+)?{re.escape(module)} {re.escape(v[key])}( // indirect)?$", gomod, re.M), (tool, v[key])


def test_k8s_staging_replaces_follow_the_k8s_version():
    v = versions()["K8S_VERSION"]
    gomod = (REPO / "cluster" / "tools" / "k8s" / "go.mod").read_text()
    replaces = re.findall(r"^replace (k8s\.io/[a-z0-9-]+) => \1 (v\S+)$", gomod, re.M)
    assert len(replaces) > 25
    assert {ver for _, ver in replaces} == {"v0." + v.removeprefix("v1.")}


def test_preflight_install_hints_name_the_built_versions():
    v, text = versions(), hints()
    assert re.findall(r"kubeflow/mpi-operator/(v[0-9.]+)/", text) and \
        set(re.findall(r"kubeflow/mpi-operator/(v[0-9.]+)/", text)) == {v["MPI_OPERATOR_VERSION"]}
    assert re.findall(r"lws/releases/download/(v[0-9.]+)/", text) and \
        set(re.findall(r"lws/releases/download/(v[0-9.]+)/", text)) == {v["LWS_VERSION"]}
