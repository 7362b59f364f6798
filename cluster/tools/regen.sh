#!/usr/bin/env bash
# Regenerate cluster/tools/<tool>/go.mod + go.sum from cluster/versions.env (needs the Go module proxy).
# One module per tool, so minimal version selection never mixes the dependencies of two tools.
# k8s.io/kubernetes requires its staging modules at v0.0.0 with replace lines a consumer does not inherit:
# the replace lines here are generated from the published go.mod of the pinned version, never hand-written.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
set -a; . "$here/../versions.env"; set +a
only="${1:-}"

mod() {  # mod DIR MODULE VERSION TOOL...
    local dir="$here/$1" module="$2" version="$3"; shift 3
    [ -z "$only" ] || [ "$only" = "$(basename "$dir")" ] || return 0
    echo "== $(basename "$dir"): $module@$version"
    mkdir -p "$dir"; rm -f "$dir/go.mod" "$dir/go.sum"
    (cd "$dir"
     go mod init "scenario-runner.local/cluster/tools/$(basename "$dir")" >/dev/null 2>&1
     go mod edit -go="$GO_VERSION"
     if [ "$module" = k8s.io/kubernetes ]; then
         staging="v0.${version#v1.}"
         gomod=$(go mod download -json "$module@$version" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
         awk '/^\tk8s\.io\/[a-z0-9-]+ v0\.0\.0$/{print $1}' "$gomod" | while read -r m; do
             go mod edit -replace="$m=$m@$staging"
         done
     fi
     go mod edit -require="$module@$version"
     for t in "$@"; do go mod edit -tool="$t"; done
     go mod tidy)
}

mod k8s k8s.io/kubernetes "$K8S_VERSION" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
mod etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
mod kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
mod lws sigs.k8s.io/lws "$LWS_VERSION" sigs.k8s.io/lws/cmd
mod mpi-operator github.com/kubeflow/mpi-operator "$MPI_OPERATOR_VERSION" github.com/kubeflow/mpi-operator/cmd/mpi-operator
