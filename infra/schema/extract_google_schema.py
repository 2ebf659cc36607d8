"""Extract the hashicorp/google provider schema for the resource types `infra/terraform` uses.

Terraform's own `validate` needs the provider binary, which the offline development machines cannot download.
The prebuilt CDKTF bindings on PyPI (`cdktf-cdktf-provider-google`) carry a jsii assembly generated from that
provider's schema: every resource's config struct, each property's Terraform name (in its registry link),
whether it is optional, and which properties are nested blocks. This script turns that assembly into the small
JSON file `google-provider-schema.json`, which `tests/infra/test_terraform_schema.py` checks the HCL against.

Regenerate (after changing the provider pin or using a new resource type):

    .venv/bin/pip download --no-deps -d /tmp/cdk cdktf-cdktf-provider-google==16.12.1
    .venv/bin/python infra/schema/extract_google_schema.py /tmp/cdk/cdktf_cdktf_provider_google-16.12.1-*.whl
"""

from __future__ import annotations

import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TF_DIR = HERE.parent / "terraform"
OUT = HERE / "google-provider-schema.json"
LINK = re.compile(r"providers/hashicorp/google/([\d.]+)/docs/(resources|data-sources)/(\w+)(?:#(\w+))?")


def load_assembly(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".jsii.tgz"))
        blob = zf.read(name)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        member = tar.extractfile("package/.jsii")
        assert member is not None
        return dict(json.load(member))


def used_types() -> dict[str, set[str]]:
    text = "\n".join(p.read_text() for p in sorted(TF_DIR.glob("*.tf")))
    used: dict[str, set[str]] = {"resources": set(), "data-sources": set()}
    for kind, rtype in re.findall(r'^(resource|data)\s+"(google_\w+)"', text, re.M):
        used["resources" if kind == "resource" else "data-sources"].add(rtype)
    return used


def block_fqn(ptype: dict[str, Any]) -> tuple[str | None, bool]:
    """(struct fqn, is a list) when the property is a nested block; (None, False) for a plain attribute.

    jsii writes a list block as `IResolvable | Struct[]`, a single block as `Struct`."""
    for t in ptype.get("union", {}).get("types", [ptype]):
        if "fqn" in t and not t["fqn"].startswith("cdktf."):
            return t["fqn"], False
        coll = t.get("collection")
        if coll and coll["kind"] == "array":
            elem = coll["elementtype"]
            if "fqn" in elem and not elem["fqn"].startswith("cdktf."):
                return elem["fqn"], True
    return None, False


def main(wheel: Path) -> None:
    asm = load_assembly(wheel)
    types: dict[str, Any] = asm["types"]
    version = None
    classes: dict[tuple[str, str], str] = {}
    for fqn, t in types.items():
        if t.get("kind") != "class":
            continue
        m = LINK.search(t.get("docs", {}).get("summary", "") + t.get("docs", {}).get("remarks", ""))
        if m and m.group(4) is None and t.get("base") in ("cdktf.TerraformResource", "cdktf.TerraformDataSource"):
            version = m.group(1)
            classes[(m.group(2), m.group(3))] = fqn

    structs: dict[str, Any] = {}

    def struct(fqn: str) -> str:
        short = fqn.rsplit(".", 1)[1]
        if short in structs:
            return short
        structs[short] = {}  # reserve (recursive schemas)
        attrs: dict[str, Any] = {}
        for p in types[fqn].get("properties", []):
            docs = p.get("docs", {})
            link = LINK.search(docs.get("remarks", "") + " " + docs.get("summary", ""))
            if not link or not link.group(4):
                continue  # cdktf meta-arguments (count, for_each, ...) carry no registry link
            name = link.group(4)
            nested, is_list = block_fqn(p["type"])
            entry: dict[str, Any] = {"required": not p.get("optional", False)}
            if nested:
                entry["block"] = struct(nested)
                entry["list"] = is_list
            attrs[name] = entry
        structs[short] = attrs
        return short

    out: dict[str, Any] = {"provider": "hashicorp/google", "version": version, "source": wheel.name}
    for kind, names in used_types().items():
        out[kind] = {}
        for rtype in sorted(names):
            cls = classes.get((kind, rtype.removeprefix("google_")))
            if cls is None:
                raise SystemExit(f"{rtype}: no such {kind[:-1]} in provider {version}")
            computed = sorted(
                re.sub(r"(?<!^)(?=[A-Z])", "_", p["name"]).lower()
                for p in types[cls].get("properties", [])
                if not p.get("static") and not p["name"].endswith("Input")
            )
            out[kind][rtype] = {"config": struct(cls + "Config"), "readable": computed}
    out["structs"] = dict(sorted(structs.items()))
    OUT.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    n_types = sum(len(out[kind]) for kind in ("resources", "data-sources"))
    print(f"{OUT.name}: provider {version}, {n_types} types, {len(structs)} structs")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
