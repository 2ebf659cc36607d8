"""Terraform, Dockerfiles and cloudbuild.yaml agree with the code (parsed statically; nothing is deployed).

- every setting a service needs in gcp mode is an env var (or a secret ref) on that Cloud Run service, and
  every SYNTHSCOPE_* variable Terraform sets is a real `Settings` field;
- secrets come from Secret Manager secrets declared in Terraform, never from plain values;
- the upload bucket's CORS response headers are exactly the headers the signer makes the client send;
- the Cloud Tasks dispatch deadline covers the worker's request timeout;
- image and service names agree between Terraform and cloudbuild.yaml, whose keys stay within the schema.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from pydantic import SecretStr

from synthscope.backends.gcp.blobs import GcsBlobStore
from synthscope.config import Settings
from tests.fixtures.gcp import storage_client
from tests.fixtures.v4 import new_service_account

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"
PROJECT = "example-project"
SHA = "abc1234"

#: Settings each service reads in gcp mode (synthscope.backends.gcp.factory, the services' startup, billing).
COMMON_REQUIRED = {
    "environment",
    "backend",
    "gcp_project",
    "gcp_location",
    "firestore_database",
    "upload_bucket",
    "results_bucket",
    "queue_name",
    "invoker_email",
    "worker_audience",
    "hmac_secret",
}
REQUIRED = {
    "api": COMMON_REQUIRED
    | {
        "worker_url",
        "gcs_signer_email",
        "api_keys",
        "cors_origins",
        "queue_max_attempts",
        "queue_dispatch_deadline_s",
        "queue_dispatch",
        "stripe_api_key",
        "stripe_webhook_secret",
        "stripe_prices",
    },
    "worker": COMMON_REQUIRED | {"queue_max_attempts"},
}
SECRET_FIELDS = {name for name, f in Settings.model_fields.items() if "SecretStr" in repr(f.annotation)}

# Cloud Build's build config schema (cloud.google.com/build/docs/build-config-file-schema).
BUILD_KEYS = {
    "steps", "timeout", "queueTtl", "logsBucket", "options", "substitutions", "tags", "serviceAccount",
    "secrets", "availableSecrets", "artifacts", "images",
}  # fmt: skip
STEP_KEYS = {
    "name", "args", "env", "dir", "id", "waitFor", "entrypoint", "secretEnv", "volumes", "timeout", "script",
    "automapSubstitutions", "allowFailure", "allowExitCodes",
}  # fmt: skip
OPTION_KEYS = {
    "sourceProvenanceHash", "requestedVerifyOption", "machineType", "diskSizeGb", "substitutionOption",
    "dynamicSubstitutions", "automapSubstitutions", "logStreamingOption", "logging", "defaultLogsBucketBehavior",
    "env", "secretEnv", "volumes", "pool",
}  # fmt: skip


# --- HCL helpers (python-hcl2 keeps string quotes and leaves expressions as "${...}") ---------------------


def unq(v: Any) -> Any:
    if isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1]
    return v


def clean(v: Any) -> Any:
    """Unquote keys and strings, drop the parser's bookkeeping keys."""
    if isinstance(v, dict):
        return {unq(k): clean(x) for k, x in v.items() if not str(k).startswith("__")}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return unq(v)


@cache
def tf() -> dict[str, Any]:
    out: dict[str, Any] = {"resource": {}, "variable": {}, "locals": {}, "output": {}}
    for path in sorted(TF.glob("*.tf")):
        doc = clean(hcl2.loads(path.read_text()))
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                out["resource"].setdefault(rtype, {}).update(named)
        for block in doc.get("variable", []):
            out["variable"].update(block)
        for block in doc.get("locals", []):
            out["locals"].update(block)
        for block in doc.get("output", []):
            out["output"].update(block)
    return out


def resource(rtype: str, name: str) -> dict[str, Any]:
    return dict(tf()["resource"][rtype][name])


def var_default(name: str) -> Any:
    if name == "project_id":
        return PROJECT
    return tf()["variable"][name]["default"]


def render(expr: str) -> str:
    """Evaluate the simple interpolations (`${var.x}`, `${local.x}`) with the variables' defaults."""

    def sub(m: re.Match[str]) -> str:
        inner = m.group(1)
        if inner.startswith("var."):
            return str(var_default(inner[4:]))
        if inner.startswith("local."):
            value = tf()["locals"][inner[6:]]
            assert isinstance(value, str), inner
            return render(value)
        raise AssertionError(f"cannot render {inner!r}")

    return re.sub(r"\$\{([a-z_.]+)\}", sub, expr)


def local_value(expr: str) -> Any:
    m = re.fullmatch(r"\$\{local\.(\w+)\}", expr)
    assert m, expr
    return tf()["locals"][m.group(1)]


def env_names_of(expr: Any) -> set[str]:
    """SYNTHSCOPE_* names in a map of env vars: a literal map, `local.x`, or `merge(local.x, {K = ...})`."""
    if isinstance(expr, dict):
        return {k for k in expr if k.startswith("SYNTHSCOPE_")}
    names = set(re.findall(r"\b(SYNTHSCOPE_[A-Z0-9_]+)\s*=", expr))
    for ref in re.findall(r"local\.(\w+)", expr):
        names |= env_names_of(tf()["locals"][ref])
    return names


def container(service: str) -> dict[str, Any]:
    c = resource("google_cloud_run_v2_service", service)["template"][0]["containers"]
    assert len(c) == 1
    return dict(c[0])


def service_env(service: str) -> tuple[set[str], dict[str, str]]:
    """(names set as plain values, {name: secret resource name} set from Secret Manager)."""
    c = container(service)
    plain: set[str] = set()
    secrets: dict[str, str] = {}
    for dyn in c.get("dynamic", []):
        for kind, block in dyn.items():
            if kind == "env":
                plain |= env_names_of(block["for_each"])
    for env in c.get("env", []):
        sources = env.get("value_source")
        if sources:
            ref = sources[0]["secret_key_ref"][0]["secret"]
            m = re.fullmatch(r"\$\{google_secret_manager_secret\.(\w+)\.secret_id\}", ref)
            assert m, f"{env['name']}: secret must reference a google_secret_manager_secret, got {ref!r}"
            secrets[env["name"]] = m.group(1)
        else:
            plain.add(env["name"])
    return plain, secrets


def field(env_name: str) -> str:
    assert env_name.startswith("SYNTHSCOPE_"), env_name
    return env_name.removeprefix("SYNTHSCOPE_").lower()


# --- tests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["api", "worker"])
def test_required_settings_are_set_on_each_service(service: str) -> None:
    plain, secrets = service_env(service)
    assert not plain & set(secrets), "an env var is both a value and a secret"
    configured = {field(n) for n in plain | set(secrets)}
    unknown = configured - set(Settings.model_fields)
    assert not unknown, f"Terraform sets variables that are no Settings field: {sorted(unknown)}"
    assert REQUIRED[service] <= set(Settings.model_fields), "REQUIRED names a setting that no longer exists"
    missing = REQUIRED[service] - configured
    assert not missing, f"{service}: settings needed in gcp mode not set by Terraform: {sorted(missing)}"


@pytest.mark.parametrize("service", ["api", "worker"])
def test_secrets_come_from_declared_secret_manager_secrets(service: str) -> None:
    plain, secrets = service_env(service)
    declared = set(tf()["resource"]["google_secret_manager_secret"])
    for env_name, secret in secrets.items():
        assert secret in declared, f"{env_name} references undeclared secret {secret}"
    plain_secrets = {n for n in plain if field(n) in SECRET_FIELDS}
    assert not plain_secrets, f"secret settings set as plain env values: {sorted(plain_secrets)}"
    accessors = [
        r
        for r in tf()["resource"]["google_secret_manager_secret_iam_member"].values()
        if r["member"] == f"serviceAccount:${{google_service_account.{service}.email}}"
    ]
    granted: set[str] = set()
    for r in accessors:
        assert r["role"] == "roles/secretmanager.secretAccessor"
        if "for_each" in r:
            granted |= {
                re.sub(r"^\$\{google_secret_manager_secret\.(\w+)\.secret_id\}$", r"\1", v)
                for v in r["for_each"].values()
            }
        else:
            granted.add(re.sub(r"^\$\{google_secret_manager_secret\.(\w+)\.secret_id\}$", r"\1", r["secret_id"]))
    assert set(secrets.values()) <= granted, f"{service} cannot read {set(secrets.values()) - granted}"


def test_upload_cors_headers_equal_the_signed_headers() -> None:
    creds, _ = new_service_account()
    store = GcsBlobStore(storage_client("http://127.0.0.1:9"), "b", signing_credentials=creds, validate_names=False)
    signed = store.signed_upload("u/x/a.wav", content_type="audio/wav", max_bytes=10, ttl_s=60)
    cors = resource("google_storage_bucket", "uploads")["cors"]
    assert len(cors) == 1
    headers = cors[0]["response_header"]
    if isinstance(headers, str):
        headers = local_value(headers)
    assert sorted(headers) == sorted(signed.headers), "CORS response headers must be exactly the signed ones"
    assert "PUT" in cors[0]["method"]
    assert cors[0]["origin"] == "${var.allowed_origins}", "CORS origins must come from var.allowed_origins"


def test_upload_bucket_is_locked_down() -> None:
    for name in ("uploads", "results"):
        b = resource("google_storage_bucket", name)
        assert b["uniform_bucket_level_access"] is True
        assert b["public_access_prevention"] == "enforced"
        assert b["lifecycle_rule"][0]["action"][0]["type"] == "Delete"


def _seconds(v: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)s", v)
    assert m, v
    return float(m.group(1))


def test_dispatch_deadline_covers_the_worker_timeout() -> None:
    worker_timeout = _seconds(render(resource("google_cloud_run_v2_service", "worker")["template"][0]["timeout"]))
    api_env = tf()["locals"]["api_env"]
    m = re.search(r"SYNTHSCOPE_QUEUE_DISPATCH_DEADLINE_S\s*=\s*tostring\(var\.(\w+)\)", api_env)
    assert m, "the API must set SYNTHSCOPE_QUEUE_DISPATCH_DEADLINE_S from a variable"
    deadline = float(var_default(m.group(1)))
    assert deadline >= worker_timeout, f"dispatch deadline {deadline}s < worker timeout {worker_timeout}s"
    limit = Settings.model_fields["queue_dispatch_deadline_s"].metadata
    assert any(getattr(x, "le", None) is not None and deadline <= x.le for x in limit)
    example = hcl2.loads((TF / "terraform.tfvars.example").read_text())
    ex_deadline = example.get("queue_dispatch_deadline_s", deadline)
    ex_timeout = example.get("worker_timeout_s", worker_timeout)
    assert ex_deadline >= ex_timeout, "terraform.tfvars.example: dispatch deadline below the worker timeout"


def test_worker_is_private_and_invoked_only_by_the_invoker() -> None:
    worker = resource("google_cloud_run_v2_service", "worker")
    assert worker["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    invokers = [
        r
        for r in tf()["resource"]["google_cloud_run_v2_service_iam_member"].values()
        if r["role"] == "roles/run.invoker"
    ]
    on_worker = [r for r in invokers if r["name"] == "${google_cloud_run_v2_service.worker.name}"]
    assert [r["member"] for r in on_worker] == ["serviceAccount:${google_service_account.invoker.email}"]
    for svc in ("api", "worker"):
        s = resource("google_cloud_run_v2_service", svc)
        assert s["template"][0]["containers"][0]["resources"][0]["startup_cpu_boost"] is True
        assert "${template[0].containers[0].image}" in s["lifecycle"][0]["ignore_changes"]


def _cloudbuild() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def _cb_render(s: str, subs: dict[str, str]) -> str:
    values = {**subs, "PROJECT_ID": PROJECT, "SHORT_SHA": SHA}
    return re.sub(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", lambda m: values.get(m.group(1), m.group(0)), s)


def test_image_and_service_names_agree_with_cloudbuild() -> None:
    cb = _cloudbuild()
    subs = cb["substitutions"]
    registry = render(tf()["locals"]["registry"])
    repo = resource("google_artifact_registry_repository", "images")
    assert registry.endswith("/" + render(repo["repository_id"]))
    names = {svc: render(resource("google_cloud_run_v2_service", svc)["name"]) for svc in ("api", "worker")}
    expected = {f"{registry}/{names[svc]}:{SHA}" for svc in names}
    assert {_cb_render(i, subs) for i in cb["images"]} == expected
    built, pushed, deployed = set(), set(), {}
    for step in cb["steps"]:
        args = [_cb_render(str(a), subs) for a in step.get("args", [])]
        if args[:1] == ["build"]:
            built.add(args[args.index("-t") + 1])
        elif args[:1] == ["push"]:
            pushed.add(args[1])
        elif args[:2] == ["run", "deploy"]:
            image = next(a.split("=", 1)[1] for a in args if a.startswith("--image="))
            deployed[args[2]] = image
    assert built == pushed == expected
    assert deployed == {names[svc]: f"{registry}/{names[svc]}:{SHA}" for svc in names}


def test_cloudbuild_keys_are_within_the_schema() -> None:
    cb = _cloudbuild()
    assert set(cb) <= BUILD_KEYS, set(cb) - BUILD_KEYS
    assert set(cb.get("options", {})) <= OPTION_KEYS
    for step in cb["steps"]:
        assert set(step) <= STEP_KEYS, set(step) - STEP_KEYS
    assert all(k.startswith("_") for k in cb["substitutions"]), "user substitutions must start with _"
    ids = [s["id"] for s in cb["steps"]]
    assert ids[0] == "test" and "smoke-test" in ids


@pytest.mark.parametrize("service", ["api", "worker"])
def test_dockerfile_shape(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) >= 2 and all(s == "python:3.11-slim" for s in stages)
    final = text.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER\s+(?!root|0\b)\S+", final, re.M), "final stage must run as a non-root user"
    assert "download.pytorch.org/whl/cpu" in text and "torch==2.13.0" in text
    assert "PORT" in final and f"synthscope-{service}" in final
    for tool in ("gcc", "build-essential", "g++"):
        assert tool not in final
    assert f"COPY services/{service}/" in text and "COPY shared/" in text


def test_secret_values_are_secretstr() -> None:
    # The secret-typed settings Terraform fills from Secret Manager really are secret in the code.
    for name in ("hmac_secret", "stripe_api_key", "stripe_webhook_secret"):
        assert name in SECRET_FIELDS
    assert isinstance(Settings().hmac_secret, SecretStr)
