"""Regenerate the CRD schema subsets in this folder from upstream CRD manifests.

    python schema/crds/extract.py "$(go mod download -json sigs.k8s.io/lws@v0.9.0 | jq -r .Dir)"/config/crd/bases/*.yaml ...

(the upstream manifests are files of the Go modules cluster/versions.env pins; tests/templates/helpers.py reads them)

Each output keeps the openAPIV3Schema of the served version with descriptions
stripped (they are most of the size), named <group>_<version>_<kind>.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml


def strip_descriptions(node):
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def extract(path: Path, out_dir: Path) -> list[Path]:
    written = []
    for crd in yaml.safe_load_all(path.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served"):
                continue
            schema = strip_descriptions(version["schema"]["openAPIV3Schema"])
            schema["x-source"] = f"{path.name} ({spec['group']}/{version['name']} {spec['names']['kind']})"
            target = out_dir / f"{spec['group']}_{version['name']}_{spec['names']['kind']}.json"
            target.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True) + "\n")
            written.append(target)
    return written


if __name__ == "__main__":
    out = Path(__file__).resolve().parent
    for argument in sys.argv[1:]:
        for target in extract(Path(argument), out):
            print(f"wrote {target} ({target.stat().st_size // 1024} KiB)")
