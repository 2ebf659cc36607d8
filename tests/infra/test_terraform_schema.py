"""`terraform validate`, as far as it can be done offline: the HCL against the pinned provider's schema.

The provider binary cannot be downloaded on the development machines, so `infra/schema/` carries the schema of
the resource types we use, extracted from the provider's published CDKTF bindings (see its script). These tests
check every resource block of `infra/terraform` against it: each argument and nested block exists in the
provider (and is a block where the provider has a block), required arguments and blocks are present, every
reference `google_x.name.attr` / `data.google_x.name.attr` / `var.x` / `local.x` resolves, and every declared
variable is used and documented. A misspelt argument, a block written as an attribute or a dangling reference
fails here instead of at `terraform plan`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infra.hcl import ROOT, TF, documents, unq

SCHEMA = json.loads((ROOT / "infra" / "schema" / "google-provider-schema.json").read_text())

META_ARGS = {"count", "for_each", "depends_on", "provider", "lifecycle", "dynamic", "provisioner", "connection"}
LIFECYCLE_ARGS = {
    "create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by", "precondition",
    "postcondition",
}  # fmt: skip


def _is_block(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) and x.get("__is_block__") for x in v)


def _body(d: dict[str, Any]) -> dict[str, Any]:
    return {unq(k): v for k, v in d.items() if not str(k).startswith("__")}


def blocks(kind: str) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(file, type, name, body) of every `resource` or `data` block."""
    for fname, doc in documents():
        for entry in doc.get(kind, []):
            for rtype, named in _body(entry).items():
                for name, body in _body(named).items():
                    yield fname, rtype, name, body


def strings(v: Any) -> Iterator[str]:
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            if not str(k).startswith("__"):
                yield str(k)
                yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)


def problems_in(body: dict[str, Any], struct: str, where: str, *, top: bool = False) -> list[str]:
    """What `terraform validate` would reject in one block body checked against a provider struct."""
    schema = SCHEMA["structs"][struct]
    found: list[str] = []
    args = _body(body)
    dynamic: dict[str, Any] = {}
    for dyn in args.get("dynamic", []):
        dynamic.update(_body(dyn))
    for name, value in args.items():
        if name in META_ARGS - {"dynamic"} and top:
            continue  # meta-arguments apply to the resource itself, not its nested blocks
        if name == "dynamic":
            continue
        spec = schema.get(name)
        if spec is None:
            found.append(f"{where}: unsupported argument or block {name!r}")
        elif "block" in spec:
            if not _is_block(value):
                found.append(f"{where}: {name!r} is a block in the provider, written as an argument")
                continue
            if not spec["list"] and len(value) > 1:
                found.append(f"{where}: at most one {name!r} block")
            for i, sub in enumerate(value):
                found += problems_in(sub, spec["block"], f"{where}/{name}[{i}]")
        elif _is_block(value):
            found.append(f"{where}: {name!r} is an argument in the provider, written as a block")
    for name, dyn in dynamic.items():
        spec = schema.get(name)
        if spec is None or "block" not in spec:
            found.append(f"{where}: dynamic {name!r} is no block of the provider")
            continue
        dyn_body = _body(dyn)
        if "for_each" not in dyn_body:
            found.append(f"{where}: dynamic {name!r} without for_each")
        for sub in dyn_body.get("content", []):
            found += problems_in(sub, spec["block"], f"{where}/dynamic {name}")
    for name, spec in schema.items():
        if spec["required"] and name not in args and name not in dynamic:
            found.append(f"{where}: required {'block' if 'block' in spec else 'argument'} {name!r} missing")
    return found


def resource_problems(fname: str, kind: str, rtype: str, name: str, body: dict[str, Any]) -> list[str]:
    schema_kind = "resources" if kind == "resource" else "data-sources"
    spec = SCHEMA[schema_kind].get(rtype)
    if spec is None:
        return [f"{fname}: {rtype}.{name}: type not in infra/schema (run its extract script)"]
    found = problems_in(body, spec["config"], f"{fname}: {rtype}.{name}", top=True)
    for lc in _body(body).get("lifecycle", []):
        extra = set(_body(lc)) - LIFECYCLE_ARGS
        found += [f"{fname}: {rtype}.{name}: unknown lifecycle argument {a!r}" for a in sorted(extra)]
    return found


def declared() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"var": set(), "local": set(), "output": set()}
    for _, doc in documents():
        for v in doc.get("variable", []):
            out["var"] |= set(_body(v))
        for loc in doc.get("locals", []):
            out["local"] |= set(_body(loc))
    out["resource"] = {f"{t}.{n}" for _, t, n, _ in blocks("resource")}
    out["data"] = {f"{t}.{n}" for _, t, n, _ in blocks("data")}
    return out


def every_string() -> Iterator[tuple[str, str]]:
    for fname, doc in documents():
        for s in strings({k: v for k, v in doc.items() if k != "variable"}):
            yield fname, s
        for v in doc.get("variable", []):  # a variable's validation may only refer to itself
            for s in strings(v):
                yield fname, s


def reference_problems() -> list[str]:
    names = declared()
    found: list[str] = []
    resource_attr = re.compile(r"(?<![\w.])(data\.)?(google_\w+)\.(\w+)(?:\[[^\]]*\])?\.(\w+)")
    for fname, s in every_string():
        for is_data, rtype, name, attr in resource_attr.findall(s):
            key = f"{rtype}.{name}"
            pool = names["data" if is_data else "resource"]
            kind = "data-sources" if is_data else "resources"
            if key not in pool:
                found.append(f"{fname}: reference to undeclared {'data.' if is_data else ''}{key}")
            elif rtype in SCHEMA[kind] and attr not in SCHEMA[kind][rtype]["readable"]:
                found.append(f"{fname}: {key} has no attribute {attr!r}")
        for kind in ("var", "local"):
            for ref in re.findall(rf"(?<![\w.]){kind}\.(\w+)", s):
                if ref not in names[kind]:
                    found.append(f"{fname}: reference to undeclared {kind}.{ref}")
    return found


# --- tests ---------------------------------------------------------------------------------------------


def test_provider_pin_is_the_schema_version() -> None:
    text = (TF / "versions.tf").read_text()
    m = re.search(r'source\s*=\s*"hashicorp/google"\s*\n\s*version\s*=\s*"=\s*([\d.]+)"', text)
    assert m, "pin hashicorp/google to an exact version"
    assert m.group(1) == SCHEMA["version"], "the schema in infra/schema is of another provider version"


@pytest.mark.parametrize("kind", ["resource", "data"])
def test_every_block_matches_the_provider_schema(kind: str) -> None:
    found = [p for fname, t, n, body in blocks(kind) for p in resource_problems(fname, kind, t, n, body)]
    assert not found, "\n".join(found)


def test_every_reference_resolves() -> None:
    found = reference_problems()
    assert not found, "\n".join(found)


def test_every_variable_is_typed_documented_and_used() -> None:
    used = {
        ref
        for _, doc in documents()
        for s in strings({k: v for k, v in doc.items() if k != "variable"})
        for ref in re.findall(r"(?<![\w.])var\.(\w+)", s)
    }
    for _, doc in documents():
        for v in doc.get("variable", []):
            for name, spec in _body(v).items():
                body = _body(spec)
                assert body.get("type"), f"variable {name} has no type"
                assert len(unq(body.get("description", ""))) > 10, f"variable {name} has no description"
                assert name in used, f"variable {name} is declared but never used"


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (lambda r: r.__setitem__("ingres", '"x"'), "unsupported argument or block 'ingres'"),
        (lambda r: r.pop("location"), "required argument 'location' missing"),
        (lambda r: r["template"][0].__setitem__("scaling", '"x"'), "'scaling' is a block in the provider"),
        (
            lambda r: r["template"][0]["containers"][0].__setitem__("startup_cpu_boost", True),
            "unsupported argument or block 'startup_cpu_boost'",
        ),
    ],
)
def test_the_checker_rejects_what_terraform_would(mutation: Any, expected: str) -> None:
    """The schema check is not vacuous: each planted mistake in the worker service is reported."""
    fname, rtype, name, body = next(
        b for b in blocks("resource") if b[1:3] == ("google_cloud_run_v2_service", "worker")
    )
    broken = json.loads(json.dumps(_body(body)))
    assert not resource_problems(fname, "resource", rtype, name, broken)
    mutation(broken)
    found = resource_problems(fname, "resource", rtype, name, broken)
    assert any(expected in p for p in found), found
