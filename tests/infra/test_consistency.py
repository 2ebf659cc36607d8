"""Terraform, Dockerfiles and cloudbuild.yaml agree with the code (parsed statically; nothing is deployed).

- every setting a service needs in gcp mode is an env var (or a secret ref) on that Cloud Run service, and
  every SYNTHSCOPE_* variable Terraform sets is a real `Settings` field;
- secrets come from Secret Manager secrets declared in Terraform, never from plain values;
- the upload bucket's CORS response headers are exactly the headers the signer makes the client send;
- the Cloud Tasks dispatch deadline covers the worker's request timeout;
- image and service names agree between Terraform and cloudbuild.yaml, whose keys stay within the schema,
  whose substitutions are declared and documented, and whose images are the Dockerfile's targets;
- the one Dockerfile: targets api and worker on a slim base, non-root, honouring PORT, CPU torch by default.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import hcl2
import pytest
import yaml
from pydantic import SecretStr

from synthscope.backends.gcp.blobs import GcsBlobStore
from synthscope.config import ScreenSettings, Settings
from tests.fixtures.gcp import storage_client
from tests.fixtures.v4 import new_service_account
from tests.infra.hcl import ROOT, TF, documents, unq
from tests.infra.test_images import DOCKERFILE, Stage, arg_default, chain, dockerfile, effective, stage

PROJECT = "example-project"
SHA = "abc1234"
SERVICES = ("api", "worker")
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

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
READ_OR_CREATE_ROLES = {"roles/storage.objectViewer", "roles/storage.objectCreator"}
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


# --- HCL helpers (tests/infra/hcl.py reads the files) -------------------------------------------------------


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
    for _, raw in documents():
        doc = clean(raw)
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


SECRET_REF = r"\$\{google_secret_manager_secret\.secrets\[env\.value\]\.secret_id\}"


def service_env(service: str) -> tuple[set[str], dict[str, str]]:
    """(names set as plain values, {name: secret of local.secrets} set from Secret Manager)."""
    c = container(service)
    plain: set[str] = set()
    secrets: dict[str, str] = {}
    for dyn in c.get("dynamic", []):
        for kind, block in dyn.items():
            if kind != "env":
                continue
            sources = block["content"][0].get("value_source")
            if not sources:
                plain |= env_names_of(block["for_each"])
                continue
            ref = sources[0]["secret_key_ref"][0]["secret"]
            assert re.fullmatch(SECRET_REF, ref), f"a secret must reference google_secret_manager_secret, got {ref!r}"
            secrets.update(local_value(block["for_each"]))
    for env in c.get("env", []):
        assert not env.get("value_source"), f"{env['name']}: secrets go through the secret env map"
        plain.add(env["name"])
    return plain, secrets


def declared_secrets() -> set[str]:
    """The Secret Manager secrets Terraform creates (id suffixes: `local.secrets`, a `toset([...])`)."""
    m = re.fullmatch(r"\$\{toset\(\[(.*)\]\)\}", tf()["locals"]["secrets"])
    assert m, tf()["locals"]["secrets"]
    return set(re.findall(r'"([a-z-]+)"', m.group(1)))


def granted_secrets(member: str) -> set[str]:
    """Secrets of local.secrets that `member` may read (secretAccessor bindings, literal or over a secret env map)."""
    granted: set[str] = set()
    for r in tf()["resource"]["google_secret_manager_secret_iam_member"].values():
        if r["member"] != member:
            continue
        assert r["role"] == "roles/secretmanager.secretAccessor"
        if "for_each" in r:
            assert r["secret_id"] == "${google_secret_manager_secret.secrets[each.value].secret_id}"
            m = re.fullmatch(r"\$\{toset\(values\(local\.(\w+)\)\)\}", r["for_each"])
            assert m, r["for_each"]
            granted |= set(tf()["locals"][m.group(1)].values())
        else:
            m = re.fullmatch(r'\$\{google_secret_manager_secret\.secrets\["([a-z-]+)"\]\.secret_id\}', r["secret_id"])
            assert m, r["secret_id"]
            granted.add(m.group(1))
    return granted


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
    assert resource("google_secret_manager_secret", "secrets")["for_each"] == "${local.secrets}"
    declared = declared_secrets()
    for env_name, secret in secrets.items():
        assert secret in declared, f"{env_name} references undeclared secret {secret}"
    plain_secrets = {n for n in plain if field(n) in SECRET_FIELDS}
    assert not plain_secrets, f"secret settings set as plain env values: {sorted(plain_secrets)}"
    granted = granted_secrets(f"serviceAccount:${{google_service_account.{service}.email}}")
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


def test_upload_screen_gets_its_settings_and_no_secret() -> None:
    plain, secrets = service_env("upload_check")
    assert not secrets, "the upload screen must not read any secret"
    configured = {field(n) for n in plain}
    assert configured <= set(ScreenSettings.model_fields), configured - set(ScreenSettings.model_fields)
    assert {"environment", "gcp_project", "upload_bucket"} <= configured
    # Its entry point comes with the image, from Cloud Build (the first apply's placeholder image lacks it).
    ignored = resource("google_cloud_run_v2_service", "upload_check")["lifecycle"][0]["ignore_changes"]
    assert "${template[0].containers[0].command}" in ignored and "${template[0].containers[0].args}" in ignored
    deploy = next(s for s in _cloudbuild()["steps"] if s.get("id") == "deploy-upload-check")
    assert "--command=synthscope-upload-check" in deploy["args"]
    assert "--args=--host=0.0.0.0" in deploy["args"], "listen on all interfaces inside the container"
    assert (
        'synthscope-upload-check = "synthscope_worker.upload_check:main"'
        in (ROOT / "services/worker/pyproject.toml").read_text()
    )


def test_uploads_reach_the_screen_through_eventarc_and_only_it_may_delete() -> None:
    screen = resource("google_cloud_run_v2_service", "upload_check")
    assert screen["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    trigger = resource("google_eventarc_trigger", "upload_finalized")
    criteria = {c["attribute"]: c["value"] for c in trigger["matching_criteria"]}
    assert criteria == {
        "type": "google.cloud.storage.object.v1.finalized",
        "bucket": "${google_storage_bucket.uploads.name}",
    }
    dest = trigger["destination"][0]["cloud_run_service"][0]
    assert dest["service"] == "${google_cloud_run_v2_service.upload_check.name}"
    events_sa = "${google_service_account.events.email}"
    assert trigger["service_account"] == events_sa
    invokers = [
        r["member"]
        for r in tf()["resource"]["google_cloud_run_v2_service_iam_member"].values()
        if r["role"] == "roles/run.invoker" and r["name"] == "${google_cloud_run_v2_service.upload_check.name}"
    ]
    assert invokers == [f"serviceAccount:{events_sa}"]
    # Object deletion on the upload bucket (quarantine) is the screen's alone.
    deleters = {
        r["member"]
        for r in tf()["resource"]["google_storage_bucket_iam_member"].values()
        if r["bucket"] == "${google_storage_bucket.uploads.name}" and r["role"] not in READ_OR_CREATE_ROLES
    }
    assert deleters == {"serviceAccount:${google_service_account.screen.email}"}


def _cloudbuild() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def _cb_render(s: str, subs: dict[str, str]) -> str:
    values = {**subs, "PROJECT_ID": PROJECT, "SHORT_SHA": SHA}
    return re.sub(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", lambda m: values.get(m.group(1), m.group(0)), s)


def _option(args: list[str], flag: str) -> list[str]:
    """Values of a repeatable `--flag value` / `--flag=value` option."""
    out = [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]
    return out + [a.split("=", 1)[1] for a in args if a.startswith(flag + "=")]


def test_image_and_service_names_agree_with_cloudbuild() -> None:
    cb = _cloudbuild()
    subs = cb["substitutions"]
    registry = render(tf()["locals"]["registry"])
    repo = resource("google_artifact_registry_repository", "images")
    assert registry.endswith("/" + render(repo["repository_id"]))
    names = {svc: render(resource("google_cloud_run_v2_service", svc)["name"]) for svc in SERVICES}
    expected = {f"{registry}/{names[svc]}:{SHA}" for svc in names}
    assert {_cb_render(i, subs) for i in cb["images"]} == expected
    built: dict[str, str] = {}  # image -> Dockerfile target
    build_args: dict[str, list[str]] = {}  # target -> --build-arg values
    pushed, deployed = set(), {}
    for step in cb["steps"]:
        args = [_cb_render(str(a), subs) for a in step.get("args", [])]
        if args[:1] == ["build"]:
            (tag,) = _option(args, "-t")
            (target,) = _option(args, "--target")
            assert _option(args, "-f") == ["Dockerfile"], "build from the one Dockerfile at the repository root"
            assert args[-1] == ".", "the build context must be the repository root"
            stage(target)  # the target exists in the Dockerfile
            built[tag] = target
            build_args[target] = _option(args, "--build-arg")
        elif args[:1] == ["push"]:
            pushed.add(args[1])
        elif args[:2] == ["run", "deploy"]:
            image = next(a.split("=", 1)[1] for a in args if a.startswith("--image="))
            deployed[args[2]] = image
    assert set(built) == pushed == expected
    assert built == {f"{registry}/{names[svc]}:{SHA}": svc for svc in SERVICES}, "each image is its own target"
    # The upload screen is the worker image under another command (Terraform's `upload_check` service).
    screen = render(resource("google_cloud_run_v2_service", "upload_check")["name"])
    assert render(container("upload_check")["image"]) == render(container("worker")["image"])
    assert deployed == {names[svc]: f"{registry}/{names[svc]}:{SHA}" for svc in names} | {
        screen: f"{registry}/{names['worker']}:{SHA}"
    }
    # The worker's torch index is a substitution (CPU by default, the Dockerfile's default); the API's is fixed.
    assert build_args["worker"] == [f"TORCH_INDEX_URL={subs['_WORKER_TORCH_INDEX_URL']}"]
    assert subs["_WORKER_TORCH_INDEX_URL"] == CPU_TORCH_INDEX == arg_default(_builder_name(), "TORCH_INDEX_URL")
    assert not any(a.startswith("TORCH_INDEX_URL=") for a in build_args["api"])


def test_cloudbuild_substitutions_are_declared_and_documented() -> None:
    text = (ROOT / "cloudbuild.yaml").read_text()
    header = re.match(r"(?:#.*\n)+", text)
    assert header, "cloudbuild.yaml must open with a comment block documenting it"
    declared = set(_cloudbuild()["substitutions"])
    used = set(re.findall(r"(?<!\$)\$\{?(_[A-Z0-9_]+)", text))
    assert used <= declared, f"substitutions used but not declared: {sorted(used - declared)}"
    assert declared <= used, f"substitutions declared but never used: {sorted(declared - used)}"
    undocumented = {s for s in declared if not re.search(rf"^#\s+{s}\s", header.group(0), re.M)}
    assert not undocumented, f"substitutions not documented in the header: {sorted(undocumented)}"


def test_cloudbuild_tests_with_the_emulators_and_smoke_tests_with_an_identity_token() -> None:
    steps = {s["id"]: s for s in _cloudbuild()["steps"]}
    test = steps["test"]
    assert test["name"].startswith("gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators")
    script = "\n".join(str(a) for a in test["args"])
    assert re.search(r"apt-get install\b.*\bmake\b", script) and "python3-venv" in script
    assert script.rstrip().endswith("make test") and "set -euo pipefail" in script
    pins = re.findall(r"\btorch==(\S+)", script)
    assert pins in ([], [_lock_pin("torch")]), "the test step's torch pin differs from requirements.lock"
    assert not pins or f"--index-url {CPU_TORCH_INDEX}" in script
    for svc in SERVICES:
        assert steps[f"build-{svc}"]["waitFor"] in (["test"], [f"build-{o}" for o in SERVICES if o != svc])
    smoke = "\n".join(str(a) for a in steps["smoke-test"]["args"])
    assert "gcloud auth print-identity-token" in smoke and "Authorization: Bearer $$token" in smoke
    assert "/healthz" in smoke and "/readyz" in smoke


def test_cloudbuild_keys_are_within_the_schema() -> None:
    cb = _cloudbuild()
    assert set(cb) <= BUILD_KEYS, set(cb) - BUILD_KEYS
    assert set(cb.get("options", {})) <= OPTION_KEYS
    for step in cb["steps"]:
        assert set(step) <= STEP_KEYS, set(step) - STEP_KEYS
    assert all(k.startswith("_") for k in cb["substitutions"]), "user substitutions must start with _"
    ids = [s["id"] for s in cb["steps"]]
    assert ids[0] == "test" and "smoke-test" in ids


def _lock_pin(package: str) -> str:
    m = re.search(rf"^{re.escape(package)}==(\S+)", (ROOT / "requirements.lock").read_text(), re.M)
    assert m, f"{package} is not pinned in requirements.lock"
    return m.group(1)


def _builder() -> Stage:
    """The stage that builds the venv (the one that installs torch)."""
    (builder,) = [s for s in dockerfile()[1] if any("pip install torch" in r for r in s.all("RUN"))]
    assert builder.name, "the builder stage must be named (the runtime copies from it)"
    return builder


def _builder_name() -> str:
    name = _builder().name
    assert name
    return name


def test_one_dockerfile_for_both_images() -> None:
    assert DOCKERFILE.is_file()
    stray = [p for d in ("services", "shared", "infra") for p in (ROOT / d).rglob("Dockerfile*")]
    assert not stray, f"images are built from the root Dockerfile only: {stray}"
    _, stages = dockerfile()
    names = [s.name for s in stages]
    assert len(set(names)) == len(names), "stage names must be unique"
    external = [s.base for s in stages if s.base not in names]
    assert external and all(b == "python:3.11-slim" for b in external), external
    # One builder: torch from TORCH_INDEX_URL (the CPU index by default, the lock's pin), then the lock, then
    # the packages without deps, checked by importing them.
    builder = _builder()
    assert arg_default(_builder_name(), "TORCH_INDEX_URL") == CPU_TORCH_INDEX
    runs = builder.all("RUN")
    (torch_run,) = [r for r in runs if "pip install torch" in r]
    assert f"torch=={_lock_pin('torch')}" in torch_run.split(), "torch pin differs from requirements.lock"
    assert re.search(r'--index-url\s+"?\$\{?TORCH_INDEX_URL\}?"?', torch_run)
    assert "pip install -r requirements.lock" in runs[runs.index(torch_run) + 1]
    (install,) = [r for r in runs if "./shared" in r]
    assert re.search(r"pip install --no-deps \./shared \./services/api \./services/worker\b", install)
    assert "python -c" in install and "import" in install
    assert "shared/ shared/" in builder.all("COPY") and "requirements.lock ./" in builder.all("COPY")


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_shape(service: str) -> None:
    target = chain(service)
    builder = _builder()
    assert builder not in target, "the final image must not be built on the builder stage"
    assert target[0].base == "python:3.11-slim"
    assert f"services/{service}/ services/{service}/" in builder.all("COPY")
    assert stage(service).all("USER") == ["10001"], f"{service}: the target itself must set USER 10001"
    user = effective(service, "USER")
    assert user and re.fullmatch(r"(?!root\b|0\b)[\w-]+(:\w+)?", user), "final stage must run as non-root"
    runs = " ".join(r for s in target for r in s.all("RUN"))
    assert "--uid 10001" in runs, "the runtime stage creates the uid 10001 user"
    cmd = effective(service, "CMD")
    assert cmd and json.loads(cmd) == ["sh", "-c", f'exec synthscope-{service} --host 0.0.0.0 --port "${{PORT:-8080}}"']
    env = " ".join(e for s in target for e in s.all("ENV"))
    assert re.search(r"\bPORT=8080\b", env) and "PYTHONUNBUFFERED=1" in env
    assert effective(service, "EXPOSE") == "8080"
    # Runtime stages: the venv from the builder, libmagic from apt, nothing to compile with.
    copies = [c for s in target for c in s.all("COPY")]
    assert copies == [f"--from={builder.name} /opt/venv /opt/venv"], copies
    packages = {
        re.sub(r"=.*", "", w)
        for m in re.finditer(r"apt-get install ([^&;|]+)", runs)
        for w in m.group(1).split()
        if not w.startswith("-")
    }
    assert packages == {"libmagic1"}, packages
    for s in target:
        for kw, args in s.instructions:
            for tool in ("gcc", "g++", "build-essential", "clang", "cc"):
                assert not re.search(rf"(?<![\w-]){re.escape(tool)}(?![\w-])", args), f"{tool} in {kw} {args}"


def test_secret_values_are_secretstr() -> None:
    # The secret-typed settings Terraform fills from Secret Manager really are secret in the code.
    for name in ("hmac_secret", "stripe_api_key", "stripe_webhook_secret"):
        assert name in SECRET_FIELDS
    assert isinstance(Settings().hmac_secret, SecretStr)


def test_build_trigger_substitutions_match_cloudbuild() -> None:
    trigger = resource("google_cloudbuild_trigger", "main")
    subs = trigger["substitutions"]
    declared = _cloudbuild()["substitutions"]
    assert set(subs) <= set(declared), (
        f"the trigger sets substitutions cloudbuild.yaml lacks: {set(subs) - set(declared)}"
    )
    assert subs["_REGION"] == "${var.region}" and subs["_PREFIX"] == "${var.name_prefix}"
    gpu = re.fullmatch(r'\$\{var\.worker_gpu \? "([^"]+)" : "([^"]+)"\}', subs["_WORKER_TORCH_INDEX_URL"])
    assert gpu, subs["_WORKER_TORCH_INDEX_URL"]
    assert gpu.group(2) == declared["_WORKER_TORCH_INDEX_URL"], (
        "without a GPU the trigger builds what a manual build does"
    )
    assert "/cu" in gpu.group(1), "the GPU worker image needs a CUDA torch index"
    assert trigger["filename"] == "cloudbuild.yaml"
    assert trigger["service_account"] == "${google_service_account.build.id}"


def test_build_secrets_exist_and_the_build_account_may_read_them() -> None:
    cb = _cloudbuild()
    used = {step_env for step in cb["steps"] for step_env in step.get("secretEnv", [])}
    available = {s["env"]: s["versionName"] for s in cb["availableSecrets"]["secretManager"]}
    assert used == set(available), "every secretEnv must be in availableSecrets, and nothing more"
    prefix = var_default("name_prefix")
    readable = {f"{prefix}-{key}" for key in granted_secrets("serviceAccount:${google_service_account.build.email}")}
    assert resource("google_secret_manager_secret", "secrets")["secret_id"] == "${var.name_prefix}-${each.key}"
    for version in available.values():
        name = _cb_render(version, cb["substitutions"])
        m = re.fullmatch(rf"projects/{PROJECT}/secrets/({prefix}-[a-z-]+)/versions/latest", name)
        assert m, name
        assert m.group(1) in readable, f"the build account cannot read {m.group(1)}"


#: The only project-level grants, each because no narrower binding exists for it.
PROJECT_ROLES = {
    ("roles/datastore.user", "serviceAccount:${google_service_account.api.email}"),  # no per-database binding
    ("roles/datastore.user", "serviceAccount:${google_service_account.worker.email}"),
    ("roles/eventarc.eventReceiver", "serviceAccount:${google_service_account.events.email}"),  # Eventarc's rule
    ("roles/pubsub.publisher", "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"),
    ("roles/logging.logWriter", "serviceAccount:${google_service_account.build.email}"),  # build logs
}


def test_project_level_roles_are_only_those_without_a_narrower_binding() -> None:
    granted = {(r["role"], r["member"]) for r in tf()["resource"]["google_project_iam_member"].values()}
    assert granted == PROJECT_ROLES, f"unexpected project-level grants: {granted - PROJECT_ROLES}"
    for kind in ("google_project_iam_binding", "google_project_iam_policy"):
        assert kind not in tf()["resource"], f"{kind} replaces grants made outside Terraform"
    queue_roles = {r["member"]: r for r in tf()["resource"]["google_cloud_tasks_queue_iam_member"].values()}
    api = queue_roles["serviceAccount:${google_service_account.api.email}"]
    assert api["name"] == "${google_cloud_tasks_queue.reports.name}"


def test_the_first_retry_comes_after_a_crashed_attempts_lease() -> None:
    """A retry that finds the dead attempt's lease still live answers 503 and spends an attempt for nothing; the
    queue must wait out the worker's lease before its first retry."""
    retry = resource("google_cloud_tasks_queue", "reports")["retry_config"][0]
    m = re.fullmatch(r"\$\{var\.worker_lease_s \+ (\d+)\}s", retry["min_backoff"])
    assert m and int(m.group(1)) >= 5, f"min_backoff must be the worker's lease plus a margin: {retry['min_backoff']}"
    assert re.search(r"SYNTHSCOPE_LEASE_S\s*=\s*tostring\(var\.worker_lease_s\)", tf()["locals"]["worker_env"])
    assert "SYNTHSCOPE_LEASE_S" in service_env("worker")[0]
    assert var_default("worker_lease_s") == Settings.model_fields["lease_s"].default
    assert retry["max_attempts"] == "${var.queue_max_attempts}"
    for svc in ("api", "worker"):
        assert "SYNTHSCOPE_QUEUE_MAX_ATTEMPTS" in service_env(svc)[0], f"{svc} must know the queue's last attempt"
