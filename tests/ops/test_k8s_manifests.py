"""deploy/k8s/ agrees with Kubernetes and with the code, offline.

Built-in kinds are validated against Kubernetes' own OpenAPI schemas (kubernetes-validate, strict:
an unknown or misplaced field fails) for the oldest version the manifests need (1.32, where the
StatefulSet pod-index label is GA) and the newest the package knows. KEDA's ScaledObject is a
custom resource that package cannot know: it is validated against a schema written from KEDA's
documented spec (tests/ops/schemas/keda-scaledobject.schema.json says what it covers), its HPA
`behavior` against Kubernetes' own schema, and its query against a real /metrics scrape.

The rest is wanbot's side: every variable a manifest sets is a setting, the secrets are in the
Secret and only there, the pod ordinal gives every shard to exactly one pod, the probes and ports
match the settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, SettingsError, load_settings
from tests.ops._promql import exported, selectors
from tests.ops.test_deploy_files import env_names, final_stage

yaml = pytest.importorskip("yaml")
kubernetes_validate = pytest.importorskip("kubernetes_validate")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KEDA_SCHEMA = Path(__file__).parent / "schemas" / "keda-scaledobject.schema.json"
VERSIONS = ["1.32.0", kubernetes_validate.latest_version()]
SECRET_SETTINGS = {"DISCORD_TOKEN", "COMFYUI_TOKEN", "WANBOT_DB"}
POD_INDEX = "metadata.labels['apps.kubernetes.io/pod-index']"


def documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                yield path, doc


def the(kind: str, name: str) -> dict[str, Any]:
    (found,) = [doc for _, doc in documents() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def bot_container() -> dict[str, Any]:
    (container,) = the("StatefulSet", "wanbot")["spec"]["template"]["spec"]["containers"]
    return container


def known_variables() -> set[str]:
    return {name for field in Settings.model_fields for name in env_names(field)}


def pod_environment(ordinal: int) -> dict[str, str]:
    """What pod `wanbot-<ordinal>` gets: the ConfigMap, the Secret, and its pod-index label."""
    env = dict(the("ConfigMap", "wanbot-config")["data"])
    env.update(the("Secret", "wanbot-secrets")["stringData"])
    for variable in bot_container()["env"]:
        assert variable["valueFrom"]["fieldRef"]["fieldPath"] == POD_INDEX, variable
        env[variable["name"]] = str(ordinal)
    return env


def settings_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in known_variables():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(_env_file=None)


# -- Kubernetes' own schemas ----------------------------------------------------------------------


def test_the_manifests_are_where_kubectl_apply_finds_them() -> None:
    """`kubectl apply -f deploy/k8s/` applies the bot; the GPU example (needing KEDA and GPU
    nodes) lives apart, in deploy/k8s/gpu/."""
    top = {doc["kind"] for path, doc in documents() if path.parent == K8S}
    assert top == {"ConfigMap", "Secret", "Service", "StatefulSet", "PodDisruptionBudget"}
    gpu = {doc["kind"] for path, doc in documents() if path.parent == K8S / "gpu"}
    assert gpu == {"Service", "StatefulSet", "PersistentVolumeClaim", "ScaledObject"}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_built_in_kind_validates_strictly_against_kubernetes(version: str) -> None:
    checked = 0
    for path, doc in documents():
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.relative_to(ROOT)} {doc['kind']}/{doc['metadata']['name']}: {exc.message} at "
                        f"{'.'.join(map(str, exc.path))}")
        checked += 1
    assert checked == 8


def test_the_validator_refuses_a_misplaced_field() -> None:
    """The strict schemas are really in force (a typo would not pass silently)."""
    broken = json.loads(json.dumps(the("StatefulSet", "wanbot")))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


# -- the KEDA ScaledObject ---------------------------------------------------------------------------


def scaled_object() -> dict[str, Any]:
    return the("ScaledObject", "comfyui")


def keda_validator() -> Any:
    schema = json.loads(KEDA_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def test_the_scaled_object_matches_kedas_documented_spec() -> None:
    errors = sorted(keda_validator().iter_errors(scaled_object()), key=lambda e: list(e.path))
    assert not errors, [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]


@pytest.mark.parametrize(("path", "value"), [
    (("spec", "triggers", 0, "metadata", "threshold"), 2),  # KEDA wants strings
    (("spec", "triggers", 0, "metadata", "treshold"), "2"),
    (("spec", "maxReplicas"), 4),
])
def test_the_keda_schema_refuses_common_mistakes(path: tuple[Any, ...], value: Any) -> None:
    broken = json.loads(json.dumps(scaled_object()))
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert list(keda_validator().iter_errors(broken))


@pytest.mark.parametrize("version", VERSIONS)
def test_the_scaling_behavior_validates_against_kubernetes_hpa(version: str) -> None:
    spec = scaled_object()["spec"]
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "keda-hpa-comfyui"},
           "spec": {"scaleTargetRef": spec["scaleTargetRef"], "minReplicas": spec["minReplicaCount"],
                    "maxReplicas": spec["maxReplicaCount"],
                    "behavior": spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]}}
    kubernetes_validate.validate(hpa, version, strict=True)


async def test_the_scaling_query_reads_what_wanbot_exports() -> None:
    (trigger,) = scaled_object()["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    names, labels = selectors(trigger["metadata"]["query"])
    series = await exported()
    assert "wanbot_queue_depth" in names and names <= set(series)
    assert labels <= set().union(*(series[name] for name in names))


def test_the_scaled_object_scales_the_gpu_statefulset_that_comfyui_urls_lists() -> None:
    spec = scaled_object()["spec"]
    target = spec["scaleTargetRef"]
    comfyui = the(target["kind"], target["name"])
    assert target["kind"] == "StatefulSet" and target["apiVersion"] == "apps/v1"
    service = comfyui["spec"]["serviceName"]
    assert the("Service", service)["spec"]["clusterIP"] == "None"  # one address per pod
    port = the("Service", service)["spec"]["ports"][0]["port"]
    urls = the("ConfigMap", "wanbot-config")["data"]["COMFYUI_URLS"].split(",")
    assert urls == [f"http://{target['name']}-{i}.{service}:{port}" for i in range(spec["maxReplicaCount"])]
    assert 1 <= spec["minReplicaCount"] <= comfyui["spec"]["replicas"] <= spec["maxReplicaCount"]
    (container,) = comfyui["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"--listen", "0.0.0.0"} <= set(container["command"])


# -- wanbot's side --------------------------------------------------------------------------------


def test_every_variable_the_manifests_set_is_a_setting() -> None:
    """WANBOT_LEASE_SECONDS and friends that do not exist yet must not be set either."""
    set_here = set(the("ConfigMap", "wanbot-config")["data"]) | set(the("Secret", "wanbot-secrets")["stringData"])
    set_here |= {variable["name"] for variable in bot_container()["env"]}
    unknown = set_here - known_variables()
    assert not unknown, f"not wanbot settings: {sorted(unknown)}"
    refs = bot_container()["envFrom"]
    assert {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in refs} == {"wanbot-config", "wanbot-secrets"}


def test_the_secret_holds_the_secrets_and_the_configmap_none() -> None:
    secret = the("Secret", "wanbot-secrets")["stringData"]
    assert set(secret) == SECRET_SETTINGS
    match = re.fullmatch(r"postgresql://(?P<user>[^:@/]+):(?P<password>[^@/]+)@(?P<host>[^:/]+):5432/\w+",
                         secret["WANBOT_DB"])
    assert match, "WANBOT_DB is a PostgreSQL URL with its user and password"
    config = the("ConfigMap", "wanbot-config")["data"]
    assert not set(config) & SECRET_SETTINGS
    for name, value in config.items():
        assert not re.search(r"TOKEN|PASSWORD|SECRET", name), name
        assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{name} carries credentials"


def test_each_pod_gets_one_shard_and_every_shard_one_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    replicas = the("StatefulSet", "wanbot")["spec"]["replicas"]
    shards: list[int] = []
    for ordinal in range(replicas):
        settings = settings_of(pod_environment(ordinal), monkeypatch)
        assert settings.shard_count == replicas, "WANBOT_SHARD_COUNT must equal the replicas"
        assert settings.shard_ids is not None
        shards += settings.shard_ids
    assert sorted(shards) == list(range(replicas))


def test_a_pod_beyond_the_shard_count_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scaling the StatefulSet without raising WANBOT_SHARD_COUNT: the extra pod says why."""
    replicas = the("StatefulSet", "wanbot")["spec"]["replicas"]
    with pytest.raises(SettingsError) as error:
        settings_of(pod_environment(replicas), monkeypatch)
    (line,) = error.value.lines
    assert line.startswith(f"WANBOT_SHARD_IDS: shard {replicas} does not exist")


def test_the_probes_reach_the_health_server_the_settings_open(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_of(pod_environment(0), monkeypatch)
    assert settings.http_host == "0.0.0.0", "the kubelet and Prometheus are not on the pod's loopback"
    container = bot_container()
    (port,) = container["ports"]
    assert port["containerPort"] == settings.http_port
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": port["name"]}
    service = the("Service", "wanbot")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    annotations = the("StatefulSet", "wanbot")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.http_port)


def test_the_pod_gets_more_time_to_stop_than_the_bot_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_of(pod_environment(0), monkeypatch)
    pod = the("StatefulSet", "wanbot")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > settings.shutdown_grace


def test_the_statefulset_its_service_and_budget_agree() -> None:
    statefulset = the("StatefulSet", "wanbot")
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    selector = statefulset["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    service = the("Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["selector"] == selector
    budget = the("PodDisruptionBudget", "wanbot")
    assert budget["spec"]["selector"]["matchLabels"] == selector and budget["spec"]["maxUnavailable"] == 1


def test_the_pod_runs_as_the_images_user_with_its_volume_at_the_working_directory() -> None:
    stage = final_stage()
    workdir = [args for keyword, args in stage if keyword == "WORKDIR"][-1]
    uid = re.search(r"--uid (\d+)", " ".join(args for keyword, args in stage if keyword == "RUN"))
    assert uid
    pod = the("StatefulSet", "wanbot")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["fsGroup"] == int(uid[1])
    mounts = {mount["name"]: mount["mountPath"] for mount in bot_container()["volumeMounts"]}
    claims = {claim["metadata"]["name"] for claim in the("StatefulSet", "wanbot")["spec"]["volumeClaimTemplates"]}
    assert workdir in mounts.values() and {name for name, path in mounts.items() if path == workdir} <= claims
