#!/usr/bin/env bash
# Build the local control plane (cluster/versions.env) from the Go module proxy, cached by version.
#   cluster/build.sh            build what is missing, print the bin dir on the last line
#   cluster/build.sh --print    print the bin dir only (built or not)
# Cache: ${SCENARIO_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scenario-runner/cluster}
#   parts/<tool>-<hash of its versions + go.mod + go.sum>/   one finished build per tool (a warm run only checks these)
#   <hash of versions.env + every go.mod/go.sum>/bin/         the binaries of this exact set (hard links to the parts)
# Go builds: CGO_ENABLED=0, -trimpath, -ldflags -s -w, at most 2 packages at a time (GOFLAGS=-p=2 unless set).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
set -a; . "$here/versions.env"; set +a
cache="${SCENARIO_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scenario-runner/cluster}"
tools=(k8s etcd kwok lws mpi-operator)

hash_of() { sha256sum "$@" | sha256sum | cut -c1-16; }
set_hash=$(cd "$here" && hash_of versions.env $(for t in "${tools[@]}"; do echo tools/$t/go.mod tools/$t/go.sum; done))
bin="$cache/$set_hash/bin"
if [ "${1:-}" = "--print" ]; then echo "$bin"; exit 0; fi

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--p=2}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
start_all=$(date +%s)
say() { echo "[cluster/build $(( $(date +%s) - start_all ))s] $*" >&2; }

# binaries each tool must produce
outputs() {
    case "$1" in
        k8s) echo kube-apiserver kube-controller-manager kube-scheduler ;;
        etcd) echo etcd ;; kwok) echo kwok ;; lws) echo lws-manager ;; mpi-operator) echo mpi-operator ;;
    esac
}

build_tool() {  # build_tool TOOL OUTDIR
    local t="$1" out="$2" ldf="-s -w"
    case "$t" in
        k8s)
            local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
            for kv in gitVersion="$K8S_VERSION" gitMajor=1 gitMinor="$minor" gitTreeState=clean gitCommit=0000000000000000000000000000000000000000 buildDate=1970-01-01T00:00:00Z; do
                ldf="$ldf -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
            done
            go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags "$ldf" -o "$out/" \
                k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
                k8s.io/kubernetes/cmd/kube-scheduler ;;
        etcd) go build -trimpath -ldflags "$ldf" -o "$out/etcd" go.etcd.io/etcd/server/v3 ;;
        kwok) go build -trimpath -ldflags "$ldf -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" -o "$out/kwok" sigs.k8s.io/kwok/cmd/kwok ;;
        lws) go build -trimpath -ldflags "$ldf" -o "$out/lws-manager" sigs.k8s.io/lws/cmd ;;
        mpi-operator) go build -trimpath -ldflags "$ldf" -o "$out/mpi-operator" github.com/kubeflow/mpi-operator/cmd/mpi-operator ;;
    esac
}

mkdir -p "$cache/parts" "$bin"
for t in "${tools[@]}"; do
    part="$cache/parts/$t-$(cd "$here" && hash_of versions.env tools/$t/go.mod tools/$t/go.sum)"
    if [ ! -f "$part/.done" ]; then
        say "$t: building (cold builds take minutes; k8s takes the longest)"
        t0=$(date +%s); rm -rf "$part.tmp"; mkdir -p "$part.tmp"
        (cd "$here/tools/$t" && build_tool "$t" "$part.tmp")
        echo "$(( $(date +%s) - t0 ))" > "$part.tmp/.seconds"
        touch "$part.tmp/.done"; rm -rf "$part"; mv "$part.tmp" "$part"
        say "$t: built in $(cat "$part/.seconds")s"
    else
        say "$t: cached ($part)"
    fi
    for b in $(outputs "$t"); do ln -f "$part/$b" "$bin/$b" 2>/dev/null || cp -f "$part/$b" "$bin/$b"; done
done
# Upstream data files the control plane needs at run time (CRDs, kwok's node stages), copied from the module cache
# next to bin/ so `python -m runner.cluster up` needs no Go; never committed.
share="$cache/$set_hash/share"
if [ ! -f "$share/.done" ]; then
    rm -rf "$share"; mkdir -p "$share/crds" "$share/kwok-stages"
    moddir() { (cd "$here/tools/$1" && go list -m -f '{{.Dir}}' "$2"); }
    kwok=$(moddir kwok sigs.k8s.io/kwok); lws=$(moddir lws sigs.k8s.io/lws); mpi=$(moddir mpi-operator github.com/kubeflow/mpi-operator)
    cp "$kwok/kustomize/stage/node/fast/node-initialize.yaml" \
       "$kwok/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" "$share/kwok-stages/"
    cp "$kwok/kustomize/crd/bases/kwok.x-k8s.io_logs.yaml" "$kwok/kustomize/crd/bases/kwok.x-k8s.io_clusterlogs.yaml" "$share/crds/"
    cp "$lws"/config/crd/bases/*.yaml "$share/crds/"
    cp "$mpi/manifests/base/kubeflow.org_mpijobs.yaml" "$share/crds/"
    chmod -R u+w "$share"; touch "$share/.done"
fi
say "done"
echo "$bin"
