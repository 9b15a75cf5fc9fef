"""The deployment files in deploy/: the kustomizations render with `kubectl kustomize` and
every rendered document validates against the pinned Kubernetes JSON schemas (offline, from
the kubernetes-validate package), and the properties a deployment relies on hold: probe
paths, non-root pods, the HPA's target, pinned images, no secret in the ConfigMap. The
compose file and the Dockerfile are checked for what they promise too."""

from __future__ import annotations

import base64
import binascii
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockgate.config import load_settings
from lockgate.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = {
    "base": DEPLOY / "k8s" / "base",
    "production": DEPLOY / "k8s" / "overlays" / "production",
}
# The oldest Kubernetes minor the manifests promise to fit and the newest schema set shipped.
K8S_VERSIONS = ("1.30.0", "1.37.0")
COMPOSE = DEPLOY / "compose" / "compose.yaml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"

# A tag that moves under you: `latest`, `stable`, or a bare major like `7` or `7-alpine`.
FLOATING_TAG = re.compile(r"^(latest|stable|edge|\d+)(-[a-z][a-z0-9.-]*)?$")


def render(name: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip(
            "KUBECTL IS NOT INSTALLED: the Kubernetes manifests in deploy/k8s were NOT "
            "rendered or validated (install kubectl to run these checks)"
        )
    done = subprocess.run(
        [kubectl, "kustomize", str(KUSTOMIZATIONS[name])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.fixture(scope="module", params=sorted(KUSTOMIZATIONS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    ]
    return out + [
        (d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] == "CronJob"
    ]


def image_tag(image: str) -> str | None:
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def test_every_document_validates_against_the_pinned_schemas(rendered):
    import kubernetes_validate

    name, docs = rendered
    assert docs, f"{name} rendered nothing"
    for version in K8S_VERSIONS:
        for doc in docs:
            # Strict: a misspelt or misplaced field is an error, not silently dropped.
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_catches_a_misspelt_field():
    import kubernetes_validate

    gateway = one(render("base"), "Deployment", "lockgate-gateway")
    probe = gateway["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGett"] = probe.pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError, match="httpGett"):
        kubernetes_validate.validate(gateway, K8S_VERSIONS[0], strict=True)


def test_gateway_probes_use_readyz_and_healthz(rendered):
    _, docs = rendered
    container = one(docs, "Deployment", "lockgate-gateway")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    port = container["readinessProbe"]["httpGet"]["port"]
    assert port in {p.get("name") for p in container["ports"]} | {8080}
    assert container["args"][:1] == ["serve"]
    assert "--workers" in container["args"]


def test_gateway_runs_one_worker_per_requested_core(rendered):
    _, docs = rendered
    container = one(docs, "Deployment", "lockgate-gateway")["spec"]["template"]["spec"][
        "containers"
    ][0]
    args = container["args"]
    workers = int(args[args.index("--workers") + 1])
    assert workers == int(container["resources"]["requests"]["cpu"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OMP_NUM_THREADS"] == "1"


def test_the_restated_model_differs_from_the_built_in_only_in_threads():
    from lockgate.config.models import ModelSpec, default_models

    data = yaml.safe_load(of_kind(render("base"), "ConfigMap")[0]["data"]["lockgate.yaml"])
    assert data["server"]["cpu"]["slots"] == 1
    for name, spec in data["models"].items():
        built_in = default_models()[name].model_dump()
        restated = ModelSpec(**spec).model_dump()
        assert restated["n_threads"] == 1
        restated["n_threads"] = built_in["n_threads"]
        assert restated == built_in, f"models.{name} drifted from the built-in entry"


def test_every_pod_runs_non_root_with_a_read_only_root(rendered):
    _, docs = rendered
    specs = pod_specs(docs)
    assert {n for n, _ in specs} >= {"lockgate-gateway", "lockgate-ingest-worker"}
    for name, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec.get("automountServiceAccountToken") is False, name
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert c["resources"]["requests"]["cpu"], (name, c["name"])
            assert c["resources"]["limits"]["memory"], (name, c["name"])
            # A read-only root still needs a writable /tmp.
            assert "/tmp" in {m["mountPath"] for m in c.get("volumeMounts", [])}, name


def test_ingest_workers_consume_the_queue_a_cron_job_fills(rendered):
    _, docs = rendered
    worker = one(docs, "Deployment", "lockgate-ingest-worker")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["worker", "ingest"]
    # Workers may run side by side now: more than one, rolled like any Deployment.
    assert worker["spec"]["replicas"] >= 2
    assert worker["spec"].get("strategy", {}).get("type") != "Recreate"
    cron = one(docs, "CronJob", "lockgate-ingest-enqueue")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    enqueue = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert enqueue["args"][:2] == ["ingest", "--queue"]
    for c in (container, enqueue):
        # The queue's URL is the Secret's (it may hold a password), never overridden here.
        assert "LOCKGATE_REDIS__URL" not in {e["name"] for e in c["env"]}
        assert [e["secretRef"]["name"] for e in c["envFrom"]] == ["lockgate-secrets"]
        assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/data/documents"}
    pvc = one(docs, "PersistentVolumeClaim", "lockgate-documents")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # every worker pod reads it


def test_hpa_scales_the_gateway_on_cpu(rendered):
    name, docs = rendered
    hpa = one(docs, "HorizontalPodAutoscaler", "lockgate-gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "lockgate-gateway")
    one(docs, "Deployment", target["name"])
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    metric = hpa["spec"]["metrics"][0]["resource"]
    assert metric["name"] == "cpu" and 0 < metric["target"]["averageUtilization"] <= 90
    if name == "production":
        assert hpa["spec"]["minReplicas"] == 3 and hpa["spec"]["maxReplicas"] == 20


def test_images_are_pinned(rendered):
    _, docs = rendered
    for name, spec in pod_specs(docs):
        for c in spec["containers"] + spec.get("initContainers", []):
            tag = image_tag(c["image"])
            assert tag and not FLOATING_TAG.match(tag), f"{name}: unpinned image {c['image']}"
            assert c["imagePullPolicy"] == "IfNotPresent"


def test_pods_read_the_config_map_and_the_secret(rendered):
    name, docs = rendered
    config = of_kind(docs, "ConfigMap")
    assert len(config) == 1
    config_name = config[0]["metadata"]["name"]
    # The generator's hash suffix: a config change rolls the pods.
    assert re.fullmatch(r"lockgate-config-[a-z0-9]{10}", config_name)
    for pod, spec in pod_specs(docs):
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["config"]["configMap"]["name"] == config_name, pod
        refs = [e["secretRef"]["name"] for e in spec["containers"][0].get("envFrom", [])]
        assert refs == ["lockgate-secrets"], pod
    secrets = of_kind(docs, "Secret")
    # The overlay must never apply placeholders over the real Secret.
    assert len(secrets) == (1 if name == "base" else 0)


def test_external_services_are_external_names(rendered):
    name, docs = rendered
    for svc, port in (("postgres", 5432), ("redis", 6379), ("vector-db", 19530)):
        doc = one(docs, "Service", svc)
        assert doc["spec"]["type"] == "ExternalName"
        assert doc["spec"]["ports"][0]["port"] == port
        host = doc["spec"]["externalName"]
        assert "." in host and "/" not in host and ":" not in host
        if name == "production":
            assert host != one(render("base"), "Service", svc)["spec"]["externalName"]


def _secret_like(key: str, value: Any) -> bool:
    lowered = key.lower()
    if lowered.endswith("_env"):  # names a variable; the secret stays in the environment
        return False
    if re.search(r"(^|_)(password|passwd|secret|token|api_key|key)$", lowered):
        return value not in (None, "", False)
    return isinstance(value, str) and bool(re.search(r"://[^/@\s]+:[^/@\s]+@", value))


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [kv for k, v in node.items() for kv in _walk(v, f"{path}.{k}" if path else k)]
    if isinstance(node, list):
        return [kv for i, v in enumerate(node) for kv in _walk(v, f"{path}[{i}]")]
    return [(path, node)]


def test_config_map_holds_no_secret_and_is_a_valid_lockgate_config(tmp_path, monkeypatch):
    docs = render("base")
    text = of_kind(docs, "ConfigMap")[0]["data"]["lockgate.yaml"]
    data = yaml.safe_load(text)
    leaks = [(p, v) for p, v in _walk(data) if _secret_like(p.rsplit(".", 1)[-1], v)]
    assert not leaks, f"secrets in the ConfigMap: {leaks}"
    assert "url" not in data.get("store", {}), "the store URL holds a password: Secret only"
    assert "REPLACE-ME" not in text
    # Exactly what a pod sees: the file plus the Secret's variables, through the real loader.
    path = tmp_path / "lockgate.yaml"
    path.write_text(text)
    secret = one(docs, "Secret", "lockgate-secrets")["stringData"]
    for key, value in secret.items():
        monkeypatch.setenv(key, value)
    settings: Settings = load_settings(path)
    assert settings.server.host == "0.0.0.0"
    assert settings.store_url.startswith("postgresql+psycopg://")
    assert settings.encryption.create_key_file is False
    assert settings.ui.session_secret_env in secret
    assert settings.audit.key_env in secret
    assert settings.encryption.master_key_env in secret
    from lockgate.config.review import ReviewCallback

    assert ReviewCallback.model_fields["secret_env"].default in secret
    # Vector search in the external vector database, by its ExternalName Service.
    vector = settings.retrieval.vector
    assert vector.engine == "milvus" and vector.uri == "http://vector-db:19530"
    assert one(docs, "Service", "vector-db")["spec"]["ports"][0]["port"] == 19530


def _pod_settings(docs: list[dict[str, Any]], tmp_path: Path, monkeypatch) -> Settings:
    """The settings a gateway pod loads: the ConfigMap's file and the Secret's variables."""
    path = tmp_path / "lockgate.yaml"
    path.write_text(of_kind(docs, "ConfigMap")[0]["data"]["lockgate.yaml"])
    for key, value in one(docs, "Secret", "lockgate-secrets")["stringData"].items():
        monkeypatch.setenv(key, value)
    return load_settings(path)


def test_replicas_share_their_state_through_redis(tmp_path, monkeypatch):
    docs = render("base")
    settings = _pod_settings(docs, tmp_path, monkeypatch)
    assert settings.redis.url is not None and settings.redis.url.startswith("redis")
    assert "redis.invalid" in settings.redis.url  # the placeholder, from the Secret
    assert settings.limits.store == "redis"
    assert settings.budgets.store == "redis"
    assert settings.cache.store == "redis"
    assert settings.breakers.store == "redis"


def test_the_pod_outlives_its_drain(tmp_path, monkeypatch):
    """The kubelet's kill comes after the preStop sleep and the gateway's whole drain."""
    docs = render("base")
    grace = _pod_settings(docs, tmp_path, monkeypatch).server.shutdown_grace_s
    spec = one(docs, "Deployment", "lockgate-gateway")["spec"]["template"]["spec"]
    command = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert spec["terminationGracePeriodSeconds"] >= float(command[1]) + grace + 10


def test_secret_placeholders_are_marked_and_unusable():
    secret = one(render("base"), "Secret", "lockgate-secrets")
    assert set(secret) <= {"apiVersion", "kind", "metadata", "type", "stringData"}
    values = secret["stringData"]
    assert values and all("REPLACE-ME" in v for v in values.values())
    # The placeholder master key must not decode as a key: a pod refuses to start on it.
    with pytest.raises((binascii.Error, ValueError)):
        if len(base64.b64decode(values["LOCKGATE_MASTER_KEY"], validate=True)) != 32:
            raise ValueError("not 32 bytes")
    assert ".invalid:" in values["LOCKGATE_STORE__URL"]


# --- compose ------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_validates_with_docker_compose_where_it_is_installed():
    docker = shutil.which("docker")
    has_plugin = docker is not None and (
        subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    )
    if not has_plugin:
        pytest.skip(
            "DOCKER COMPOSE IS NOT INSTALLED: `docker compose config` did not check "
            "deploy/compose/compose.yaml (the structural checks below still ran)"
        )
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_compose_starts_two_gateways_behind_a_balancer_with_their_backends():
    services = compose()["services"]
    assert {"gateway-a", "gateway-b", "lb", "postgres", "redis", "milvus"} <= set(services)
    for name in ("gateway-a", "gateway-b"):
        gw = services[name]
        assert gw["command"][0] == "serve" and "--workers" in gw["command"]
        assert "/readyz" in " ".join(gw["healthcheck"]["test"])
        needs = gw["depends_on"]
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["lockgate-init"]["condition"] == "service_completed_successfully"
        assert gw["read_only"] is True and gw["cap_drop"] == ["ALL"]
        assert gw["environment"]["LOCKGATE_STORE__URL"].startswith(
            "${LOCKGATE_STORE_URL:-postgresql+psycopg://lockgate:"
        )
        assert gw["environment"]["LOCKGATE_ENCRYPTION__CREATE_KEY_FILE"] == "false"
        # Vectors in the Milvus service, which the gateways wait for.
        assert needs["milvus"]["condition"] == "service_healthy"
        assert gw["environment"]["LOCKGATE_RETRIEVAL__VECTOR__ENGINE"].endswith(":-milvus}")
        assert gw["environment"]["LOCKGATE_RETRIEVAL__VECTOR__URI"] == "http://milvus:19530"
    lb = services["lb"]
    assert {n: c["condition"] for n, c in lb["depends_on"].items()} == {
        "gateway-a": "service_healthy",
        "gateway-b": "service_healthy",
    }
    conf = (COMPOSE.parent / "nginx.conf").read_text()
    assert "server gateway-a:8080" in conf and "server gateway-b:8080" in conf
    assert "proxy_buffering off" in conf  # streamed answers
    assert services["postgres"]["image"].startswith("postgres:15.")
    assert services["redis"]["image"].startswith("redis:7.")
    assert services["milvus"]["image"].startswith("milvusdb/milvus:v")
    for name, svc in services.items():
        tag = image_tag(svc["image"])
        assert tag and not FLOATING_TAG.match(tag), f"{name}: unpinned image {svc['image']}"
        assert "healthcheck" in svc or svc.get("restart") == "no" or name == "ingest-worker"
    worker, enqueue = services["ingest-worker"], services["ingest-enqueue"]
    assert worker["command"][:2] == ["worker", "ingest"]
    assert enqueue["command"][:2] == ["ingest", "--queue"]
    for svc in (worker, enqueue):
        assert svc["environment"]["LOCKGATE_REDIS__URL"] == "redis://redis:6379/0"
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        for needed, cond in svc.get("depends_on", {}).items():
            assert needed in services, (name, needed)
            assert cond["condition"] in ("service_healthy", "service_completed_successfully")
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], (name, needed)
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_compose_gateways_share_redis_and_outlive_their_drain():
    services = compose()["services"]
    for name in ("gateway-a", "gateway-b"):
        env = services[name]["environment"]
        assert env["LOCKGATE_REDIS__URL"] == "redis://redis:6379/0"
        for mechanism in ("LIMITS", "BUDGETS", "CACHE", "BREAKERS"):
            assert env[f"LOCKGATE_{mechanism}__STORE"] == "redis", mechanism
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        stop = services[name]["stop_grace_period"]
        assert stop.endswith("s") and float(stop[:-1]) > float(
            env["LOCKGATE_SERVER__SHUTDOWN_GRACE_S"]
        )


def test_compose_has_no_committed_lockgate_secret():
    text = COMPOSE.read_text()
    assert "LOCKGATE_MASTER_KEY:" not in text and "LOCKGATE_UI_SECRET:" not in text
    init = compose()["services"]["lockgate-init"]
    assert init["environment"]["LOCKGATE_ENCRYPTION__CREATE_KEY_FILE"] == "true"


# --- Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_is_two_stage_non_root_with_a_healthcheck():
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(fileobj=DOCKERFILE.open("rb"))
    steps = parser.structure
    assert steps, "the Dockerfile did not parse"
    froms = [s["value"] for s in steps if s["instruction"] == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build") and " AS runtime" in froms[1]
    arg = next(s["value"] for s in steps if s["instruction"] == "ARG")
    assert arg.startswith("PYTHON_IMAGE=")
    # python:3.11-slim would float to each patch release: the patch is pinned.
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-[a-z]+", arg), arg
    runtime = steps[[i for i, s in enumerate(steps) if s["instruction"] == "FROM"][1] :]
    users = [s["value"] for s in runtime if s["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = [s["value"] for s in runtime if s["instruction"] == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0]
    runs = " ".join(s["value"] for s in steps if s["instruction"] == "RUN")
    assert "--index-url" in runs and "download.pytorch.org/whl/cpu" in " ".join(
        s["value"] for s in steps
    )
    assert "torch==2.13.0" in runs
    assert '".[postgres,scale]"' in runs  # the PostgreSQL driver and the Milvus client
    assert "assemble(" in runs  # the GGUF is baked in, not made at start-up
    # Compilers stay in the build stage.
    runtime_runs = " ".join(s["value"] for s in runtime if s["instruction"] == "RUN")
    assert "build-essential" not in runtime_runs and "cmake" not in runtime_runs


def test_dockerignore_keeps_local_state_out_of_the_build():
    lines = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*"  # an allow-list
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "src"}
