#!/bin/sh
# Make SGLang's Mooncake transfer engine honour MOONCAKE_PROTOCOL (efa on AWS).
#
#   patch-mooncake-protocol.sh <directory of the installed sglang package>
#
# SGLang before PR #25083 hard-codes protocol "rdma" when it initialises Mooncake
# (sglang/srt/distributed/device_communicators/mooncake_transfer_engine.py in 0.5.10). With a
# Mooncake built -DUSE_EFA=ON that silently falls back to TCP or hangs (efa-validation, p5en 1P:2D).
# efa-validation patched it to a literal "efa"; here the literal becomes
# os.environ.get("MOONCAKE_PROTOCOL", "rdma"), which is what newer SGLang does itself.
#
# Guarded: a module that already reads MOONCAKE_PROTOCOL is left alone, as is one without a literal
# "rdma" (e.g. the Ascend engine); if in the end no module reads MOONCAKE_PROTOCOL the build stops
# rather than ship an image that would talk TCP. Idempotent.
set -eu

package_dir=${1:?usage: patch-mooncake-protocol.sh <sglang package dir>}
env_read='__import__("os").environ.get("MOONCAKE_PROTOCOL", "rdma")'

modules=$(grep -rlE --include='*transfer_engine*.py' '"P2PHANDSHAKE"' "$package_dir" || true)

for module in $modules; do
    if grep -q 'MOONCAKE_PROTOCOL' "$module"; then
        echo "patch-mooncake-protocol: $module reads MOONCAKE_PROTOCOL already"
    elif grep -qE '"rdma"[[:space:]]*[,)]' "$module"; then
        sed -i -E "s/\"rdma\"([[:space:]]*[,)])/${env_read}\\1/g" "$module"
        echo "patch-mooncake-protocol: $module now reads MOONCAKE_PROTOCOL"
    else
        echo "patch-mooncake-protocol: $module passes no literal \"rdma\"; left alone"
    fi
done

if [ -z "$modules" ] || ! grep -q 'MOONCAKE_PROTOCOL' $modules; then
    echo "patch-mooncake-protocol: no Mooncake transfer engine module under $package_dir reads MOONCAKE_PROTOCOL;" \
         "find where SGLang picks the protocol and extend this script" >&2
    exit 1
fi
