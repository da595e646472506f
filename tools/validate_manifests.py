#!/usr/bin/env python3
"""Validates Kubernetes manifests offline: built-in kinds against kubernetes-validate's bundled strict
schemas, the LeaderWorkerSet and PodMonitoring custom resources against deploy/schemas (our JSON
schemas of their documented APIs, whose pod templates and metadata point into the same strict
Kubernetes definitions). A kind with no schema is an error, not a warning.

  validate_manifests.py [--k8s-version 1.31.0] FILE.yaml...   exit 0 when every document is valid
"""
import argparse
import importlib.resources
import json
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

HERE = Path(__file__).resolve().parent
CUSTOM = {
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): "leaderworkerset-v1.json",
    ("monitoring.googleapis.com/v1", "PodMonitoring"): "podmonitoring-v1.json",
}


def custom_validators(version):
    defs_dir = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{version}-local-strict"
    defs = json.loads((defs_dir / "_definitions.json").read_text())
    registry = Registry().with_resource("https://kubernetes.io/api/_definitions.json", Resource.from_contents(defs))
    out = {}
    for key, name in CUSTOM.items():
        schema = json.loads((HERE.parent / "deploy" / "schemas" / name).read_text())
        out[key] = jsonschema.Draft202012Validator(schema, registry=registry)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k8s-version", default="1.31.0")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    custom = custom_validators(args.k8s_version)
    errors = checked = 0
    for f in args.files:
        with open(f) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d is not None]
        for doc in docs:
            where = f"{f}: {doc.get('kind', '?')} {doc.get('metadata', {}).get('name', '?')}"
            key = (doc.get("apiVersion"), doc.get("kind"))
            problems = []
            if key in custom:
                problems = [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                            for e in custom[key].iter_errors(doc)]
            else:
                try:
                    kubernetes_validate.validate(doc, args.k8s_version, strict=True)
                except kubernetes_validate.SchemaNotFoundError:
                    problems = [f"no schema for {key[0]} {key[1]} (Kubernetes {args.k8s_version} or deploy/schemas)"]
                except kubernetes_validate.ValidationError as e:
                    problems = [f"{'.'.join(map(str, e.path)) or '(root)'}: {e.message}"]
            checked += 1
            for p in problems:
                print(f"INVALID {where}: {p}")
            errors += bool(problems)
            if not problems:
                print(f"ok      {where}")
    print(f"{checked} documents, {errors} invalid")
    return 1 if errors or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
