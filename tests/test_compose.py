"""The deployment files, checked statically: docker-compose.yml, deploy/Dockerfile, deploy/k8s.

No container runs here. The files are parsed and held to what the services need: a KRaft
Kafka and a PostgreSQL they wait for, one image recipe with the service as build argument,
secrets only from the environment, and exactly the topics the contracts declare.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from driftloop_contracts import TOPICS

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"
SERVICES = ("ingestion", "drift", "scheduler", "training", "evaluation", "serving")
BUSY_TOPICS = {
    "driftloop.records",
    "driftloop.records.ingested",
    "driftloop.prediction.logged",
    "driftloop.feedback.received",
    "driftloop.trial.requested",
}
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET")
REQUIRED_VARIABLE = re.compile(r"\$\{\w+:\?[^}]+\}")
_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _interpolate(value: str, variables: dict[str, str]) -> str:
    """What compose makes of ``value`` given ``variables``: ``${X}``, ``${X:-d}``, ``${X:?e}``."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        if name is None:
            return "$"
        if variables.get(name):
            return variables[name]
        if "?" in op:
            raise LookupError(f"{name}: {arg}")
        return arg if "-" in op else ""

    return _INTERPOLATION.sub(substitute, value)


def _topic_specs(value: str) -> dict[str, int]:
    names = [spec.partition(":")[0] for spec in value.split()]
    assert len(names) == len(set(names)), "a topic is listed twice"
    return {name: int(count) for name, _, count in (spec.partition(":") for spec in value.split())}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment is written as a mapping"
    return {key: str(value) for key, value in environment.items()}


def _by_image(services: dict[str, dict[str, Any]], prefix: str) -> str:
    (name,) = (name for name, svc in services.items() if svc.get("image", "").startswith(prefix))
    return name


def _internal_listener(kafka: dict[str, Any]) -> str:
    env = _env(kafka)
    advertised = dict(
        listener.split("://") for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    return advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]


def test_kafka_is_apache_kafka_4_in_kraft_mode(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    image, _, tag = kafka["image"].partition(":")
    env = _env(kafka)

    assert image == "apache/kafka"
    assert int(tag.split(".")[0]) >= 4
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in env["KAFKA_LISTENERS"]
    assert env["CLUSTER_ID"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert "healthcheck" in kafka
    assert not any("ZOOKEEPER" in key for key in env)
    assert not any("zookeeper" in str(svc.get("image", "")) for svc in services.values())


def test_postgres_keeps_its_data_and_reports_health(services: dict[str, dict[str, Any]]) -> None:
    postgres = services[_by_image(services, "postgres:")]

    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_built_from_the_one_dockerfile(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    build = services[name]["build"]

    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert build["args"] == {"SERVICE": name}
    assert (ROOT / "services" / name / "pyproject.toml").is_file()


@pytest.mark.parametrize("name", SERVICES)
def test_service_reaches_kafka_internally_and_postgres(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = _env(services[name])
    postgres_name = _by_image(services, "postgres:")
    postgres_env = _env(services[postgres_name])
    url = urlsplit(_interpolate(env["DATABASE_URL"], {"POSTGRES_PASSWORD": "sentinel"}))

    assert env["KAFKA_BOOTSTRAP_SERVERS"] == _internal_listener(services["kafka"])
    assert url.scheme == "postgresql"
    assert url.hostname == postgres_name
    assert url.username == postgres_env["POSTGRES_USER"]
    assert url.password == "sentinel"
    assert url.path == f"/{postgres_env['POSTGRES_DB']}"


@pytest.mark.parametrize("name", SERVICES)
def test_service_waits_for_healthy_kafka_postgres_and_topics(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    conditions = {dep: spec["condition"] for dep, spec in service["depends_on"].items()}

    assert conditions == {
        "kafka": "service_healthy",
        _by_image(services, "postgres:"): "service_healthy",
        "topics": "service_completed_successfully",
    }
    assert service["restart"] == "unless-stopped"
    assert "/health" in " ".join(service["healthcheck"]["test"])


def test_training_scales_by_replicas_and_serving_is_published(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["training"]["deploy"]["replicas"] == 2
    assert services["serving"]["ports"] == [f"8000:{_env(services['serving'])['PORT']}"]


def test_secrets_come_only_from_the_environment(services: dict[str, dict[str, Any]]) -> None:
    secrets = {
        (name, key): value
        for name, service in services.items()
        for key, value in _env(service).items()
        if SECRET_NAME.search(key)
    }

    assert ("serving", "DRIFTLOOP_ADMIN_TOKEN") in secrets
    for where, value in secrets.items():
        assert REQUIRED_VARIABLE.fullmatch(value), f"{where} is not a required ${{VARIABLE}}"
    for name in SERVICES:
        database_url = _env(services[name])["DATABASE_URL"]
        with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
            _interpolate(database_url, {})


def test_compose_creates_exactly_the_contract_topics(services: dict[str, dict[str, Any]]) -> None:
    topics = services["topics"]
    specs = _topic_specs(_env(topics)["DRIFTLOOP_TOPICS"])
    script = " ".join(topics["command"])

    assert set(specs) == set(TOPICS)
    assert {name for name, partitions in specs.items() if partitions == 6} == BUSY_TOPICS
    assert all(partitions == 3 for name, partitions in specs.items() if name not in BUSY_TOPICS)
    assert topics["image"] == services["kafka"]["image"]
    assert topics["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert "$$DRIFTLOOP_TOPICS" in script
    assert "--if-not-exists" in script


def _k8s_documents() -> dict[str, list[dict[str, Any]]]:
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        for path in sorted(K8S.glob("*.yaml"))
    }


def test_k8s_manifests_parse_and_kustomize_lists_them_all() -> None:
    documents = _k8s_documents()
    kustomization = documents.pop("kustomization.yaml")[0]

    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(documents)
    for docs in documents.values():
        assert docs
        assert all({"apiVersion", "kind", "metadata"} <= doc.keys() for doc in docs)
        assert not any(doc["kind"] == "Secret" for doc in docs), "secrets are never committed"


@pytest.mark.parametrize("name", SERVICES)
def test_k8s_deploys_the_service_with_health_probes(name: str) -> None:
    deployments = {
        doc["metadata"]["name"]: doc
        for docs in _k8s_documents().values()
        for doc in docs
        if doc["kind"] == "Deployment"
    }
    spec = deployments[f"driftloop-{name}"]["spec"]
    (container,) = spec["template"]["spec"]["containers"]

    assert spec["replicas"] == (2 if name == "training" else 1)
    assert container["image"] == f"driftloop/{name}"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"
    assert {"configMapRef": {"name": "driftloop-config"}} in container["envFrom"]
    assert all("value" not in var for var in container["env"]), "env comes from the Secret"


def test_k8s_serving_service_and_topics_job_match_compose(
    services: dict[str, dict[str, Any]],
) -> None:
    documents = _k8s_documents()
    (service,) = (doc for doc in documents["serving.yaml"] if doc["kind"] == "Service")
    (job,) = documents["topics-job.yaml"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    job_env = {var["name"]: var["value"] for var in container["env"]}

    assert service["spec"]["ports"][0]["port"] == 8000
    assert _topic_specs(job_env["DRIFTLOOP_TOPICS"]) == _topic_specs(
        _env(services["topics"])["DRIFTLOOP_TOPICS"]
    )
    assert container["image"] == services["kafka"]["image"]


def test_dockerfile_builds_one_service_and_runs_it_unprivileged() -> None:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())  # join continued lines
    instructions = re.findall(r"^([A-Z]+) (.*)$", text, flags=re.MULTILINE)
    final_stage = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    users = [arg for op, arg in final_stage if op == "USER"]

    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, flags=re.MULTILINE)
    assert ("ARG", "SERVICE") in final_stage
    assert ("ARG", "SERVICE") in instructions[: len(instructions) - len(final_stage)]
    assert re.search(r'uv sync --package "driftloop-\$\{SERVICE\}" --no-dev --no-editable', text)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(
        op == "HEALTHCHECK" and "urllib" in arg and "/health" in arg for op, arg in final_stage
    )
    assert any(op == "CMD" and "driftloop_${DRIFTLOOP_SERVICE}" in arg for op, arg in final_stage)
    assert "uv" not in " ".join(arg for op, arg in final_stage if op in {"RUN", "COPY"}).split()


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    patterns = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    allowed = {line[1:].rstrip("/") for line in patterns if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for source in re.findall(r"^COPY (\S+) ", DOCKERFILE.read_text(), flags=re.MULTILINE)
        if not source.startswith("--")
    }

    assert patterns[0] == "*"
    assert copied == allowed
    assert {"**/.venv", "**/__pycache__", "**/.driftloop", "**/uv.lock"} <= set(patterns)


def _docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _docker_compose_available(), reason="docker compose plugin not installed")
def test_docker_compose_accepts_the_file() -> None:
    env = {**os.environ, "POSTGRES_PASSWORD": "sentinel", "DRIFTLOOP_ADMIN_TOKEN": "sentinel"}
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
