"""The deployment files agree with the code: Dockerfile, .dockerignore, docker-compose.yml and
.env.example. No Docker engine is needed; these catch the drift a build or a deploy would
otherwise reveal late (a COPY of a moved folder, a setting missing from the example file)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from pydantic import AliasChoices

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"


# -- helpers ---------------------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        result.append((keyword.upper(), args.strip()))
        pending = ""
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"{args!r} should be exec (JSON) form"
    return value


def copy_sources(args: str) -> list[str]:
    parts = exec_form(args) if args.startswith("[") else shlex.split(args)
    parts = [part for part in parts if not part.startswith("--")]
    return parts[:-1]


def dockerignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, line.lstrip("!").strip("/")))
    return rules


def _matches(path: str, pattern: str) -> bool:
    """Docker excludes a matched directory with its contents: test the path and its parents."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if pattern.startswith("**/"):
        tails = ["/".join(parts[i : j + 1]) for i in range(len(parts)) for j in range(i, len(parts))]
        return any(fnmatch.fnmatchcase(tail, pattern[3:]) for tail in tails)
    return any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)


def dockerignored(path: str) -> bool:
    """Whether `path` (relative to the repo) is left out of the build context; last rule wins."""
    ignored = False
    for negated, pattern in dockerignore_rules():
        if _matches(path, pattern):
            ignored = not negated
    return ignored


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def env_names(field_name: str) -> list[str]:
    """A setting's environment names, the preferred one first."""
    field = Settings.model_fields[field_name]
    if isinstance(field.validation_alias, AliasChoices):
        return [str(choice) for choice in field.validation_alias.choices]
    if isinstance(field.validation_alias, str):
        return [field.validation_alias]
    return [field.alias or field_name.upper()]


ASSIGNMENT = re.compile(r"^(?P<comment>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def env_example_assignments() -> list[tuple[bool, str, str]]:
    """(commented out, NAME, value) for every NAME=value line, commented or not."""
    found = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            found.append((bool(match["comment"]), match["name"], match["value"]))
    return found


# -- Dockerfile ------------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_and_copies_from_a_named_stage() -> None:
    froms = [args for keyword, args in instructions() if keyword == "FROM"]
    assert len(froms) >= 2
    stages = {args.split()[-1] for args in froms if " AS " in args.upper()}
    for keyword, args in final_stage():
        if keyword == "COPY" and "--from=" in args:
            assert re.search(r"--from=(\S+)", args)[1] in stages  # type: ignore[index]


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    copied = [src for keyword, args in instructions() if keyword == "COPY" and "--from=" not in args
              for src in copy_sources(args)]
    assert copied
    for src in copied:
        assert list(ROOT.glob(src)), f"COPY {src}: not in the repository"
        assert not dockerignored(src), f"COPY {src}: excluded by .dockerignore"


def test_every_package_pyproject_builds_is_copied() -> None:
    """A new top-level package added to pyproject but not to the Dockerfile would be missing
    from the image's wheel without any build error."""
    includes = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")
                if any(fnmatch.fnmatchcase(path.parent.name, pattern) for pattern in includes)}
    copied = {src.rstrip("/") for keyword, args in instructions() if keyword == "COPY"
              for src in copy_sources(args)}
    assert packages and packages <= copied, f"not copied: {sorted(packages - copied)}"


def test_final_stage_runs_as_a_non_root_user() -> None:
    users = [args.split(":")[0] for keyword, args in final_stage() if keyword == "USER"]
    assert users, "no USER in the final stage"
    assert users[-1] not in {"root", "0"}


def test_entrypoint_is_the_declared_console_script() -> None:
    stage = dict(final_stage())
    assert exec_form(stage["ENTRYPOINT"]) == ["wanbot"]
    assert exec_form(stage["CMD"]) == ["run"]
    target = pyproject()["project"]["scripts"]["wanbot"]
    module = target.split(":")[0]
    assert (ROOT / (module.replace(".", "/") + ".py")).exists() or (ROOT / module.replace(".", "/")).is_dir()


def test_healthcheck_uses_python_and_a_module_in_the_image() -> None:
    checks = [args for keyword, args in final_stage() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "NONE" not in checks[0].upper()
    command = exec_form(checks[0].split("CMD", 1)[1].strip())
    assert command[0] == "python"
    assert not {"curl", "wget"} & set(command), "python:*-slim has neither curl nor wget"
    if "-m" in command:
        module_path = command[command.index("-m") + 1].replace(".", "/") + ".py"
        assert (ROOT / module_path).exists()
        assert not dockerignored(module_path)
        assert "/healthz" in (ROOT / module_path).read_text()


def test_image_settings_match_the_code() -> None:
    stage = final_stage()
    env = " ".join(args for keyword, args in stage if keyword == "ENV")
    assert "WANBOT_DB=/data/wanbot.db" in env
    assert any(keyword == "VOLUME" and "/data" in args for keyword, args in stage)
    exposed = [args for keyword, args in stage if keyword == "EXPOSE"]
    assert exposed == [str(Settings.model_fields["http_port"].default)]


def test_image_installs_runtime_dependencies_only() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    assert "[test]" not in runs and "pytest" not in runs


def test_runtime_dependencies_include_what_bot_ops_imports() -> None:
    """The image installs pyproject's dependencies and nothing else: a module imported by the
    bot but not declared there works in the dev venv and crashes in the container."""
    declared = " ".join(pyproject()["project"]["dependencies"]).lower().replace("_", "-")
    assert "prometheus-client" in declared, "add prometheus-client to [project].dependencies"


# -- .dockerignore ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [".env", ".venv", ".git", "data/wanbot.db", "tests/conftest.py",
                                  "bot/__pycache__/x.pyc", "wanbot.egg-info"])
def test_dockerignore_keeps_secrets_state_and_tests_out(path: str) -> None:
    assert dockerignored(path)


@pytest.mark.parametrize("path", ["pyproject.toml", "README.md", "bot/ops/probe.py", "storage/migrations"])
def test_dockerignore_keeps_what_the_build_needs(path: str) -> None:
    assert not dockerignored(path)


# -- docker-compose.yml ----------------------------------------------------------------------------


def compose_lines() -> list[str]:
    """Uncommented, non-blank lines."""
    return [line for line in COMPOSE.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_compose_structure_without_a_yaml_parser() -> None:
    lines = compose_lines()
    top_level = {line.rstrip(":") for line in lines if not line.startswith(" ")}
    assert top_level == {"services", "volumes"}
    text = "\n".join(lines)
    for needle in ("  wanbot:", "build: .", "env_file: .env", "- wanbot-data:/data", "restart: unless-stopped",
                   '"host.docker.internal:host-gateway"', "  wanbot-data:"):
        assert needle in text, f"docker-compose.yml lacks {needle!r}"


def test_compose_does_not_point_the_container_at_its_own_localhost() -> None:
    for line in compose_lines():
        if "COMFYUI_URL" in line:
            assert "localhost" not in line and "127.0.0.1" not in line, line


def test_compose_gives_shutdown_more_time_than_the_grace() -> None:
    match = re.search(r"^\s*stop_grace_period:\s*(\d+)s\s*$", "\n".join(compose_lines()), re.MULTILINE)
    assert match, "stop_grace_period missing: docker stop would SIGKILL after 10 s"
    assert int(match[1]) > Settings.model_fields["shutdown_grace"].default


def test_compose_parses_as_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load(COMPOSE.read_text())
    service = compose["services"]["wanbot"]
    assert service["build"] == "."
    assert service["restart"] == "unless-stopped"
    assert "wanbot-data:/data" in service["volumes"]
    assert "host.docker.internal:host-gateway" in service["extra_hosts"]
    assert "wanbot-data" in compose["volumes"]


# -- .env.example ----------------------------------------------------------------------------------


def test_env_example_names_every_setting() -> None:
    """Fails when a setting is added to bot/settings.py without a line in .env.example."""
    named = {name for _, name, _ in env_example_assignments()}
    missing = [env_names(field)[0] for field in Settings.model_fields if env_names(field)[0] not in named]
    assert not missing, f".env.example lacks: {', '.join(missing)}"


def test_env_example_names_nothing_that_is_not_a_setting() -> None:
    known = {name for field in Settings.model_fields for name in env_names(field)}
    unknown = {name for _, name, _ in env_example_assignments()} - known
    assert not unknown, f".env.example names unknown settings: {sorted(unknown)}"


def test_env_example_shows_the_real_defaults() -> None:
    by_name = {env_names(field)[0]: field for field in Settings.model_fields}
    shown = {name: value for commented, name, value in env_example_assignments()
             if commented and name in by_name and value}
    for name, value in shown.items():
        field = by_name[name]
        example_value = getattr(Settings(_env_file=None, **{name: value}), field)
        default = Settings.model_fields[field].get_default(call_default_factory=True)
        if example_value != default:
            # Several examples for one setting are fine as long as one shows the default.
            assert any(getattr(Settings(_env_file=None, **{name: v}), field) == default
                       for c, n, v in env_example_assignments() if c and n == name), name


def test_env_example_is_safe_for_docker_env_file() -> None:
    active = [(name, value) for commented, name, value in env_example_assignments() if not commented]
    assert dict(active) == {"DISCORD_TOKEN": ""}, "only an empty DISCORD_TOKEN placeholder is active"
    for name, value in active:
        assert '"' not in value and "'" not in value and " #" not in value, name


# -- docker-compose.cluster.yml ----------------------------------------------------------------------

CLUSTER_COMPOSE = ROOT / "docker-compose.cluster.yml"
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?::?[?-][^}]*)?\}")


def cluster_compose() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(CLUSTER_COMPOSE.read_text())


def interpolated(value: str, env: dict[str, str]) -> str:
    """What Compose makes of `${NAME}`, `${NAME:?message}` and `${NAME:-default}` given `env`."""
    return _INTERPOLATION.sub(lambda match: env[match["name"]], value)


def bot_services(compose: dict) -> dict[str, dict]:
    return {name: service for name, service in compose["services"].items() if service.get("image") == "wanbot:latest"}


def known_variables() -> set[str]:
    return {name for field in Settings.model_fields for name in env_names(field)}


def test_cluster_compose_runs_postgres_16_with_a_volume_and_a_healthcheck() -> None:
    compose = cluster_compose()
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    (volume,) = postgres["volumes"]
    name, _, path = volume.partition(":")
    assert path == "/var/lib/postgresql/data" and name in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "ports" not in postgres, "PostgreSQL stays on the compose network"


def test_cluster_bots_wait_for_a_healthy_postgres_and_have_healthchecks_and_their_own_volume() -> None:
    compose = cluster_compose()
    bots = bot_services(compose)
    assert len(bots) >= 2
    volumes = set()
    for name, bot in bots.items():
        assert bot["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert bot["env_file"] == ".env" and bot["restart"] == "unless-stopped" and bot["init"] is True
        assert bot["healthcheck"]["test"] == ["CMD", "python", "-m", "bot.ops.probe"]
        assert int(bot["stop_grace_period"].rstrip("s")) > Settings.model_fields["shutdown_grace"].default
        (volume,) = bot["volumes"]
        volume_name, _, path = volume.partition(":")
        assert path == "/data" and volume_name in compose["volumes"]
        volumes.add(volume_name)
    assert len(volumes) == len(bots), "each bot keeps its own files (videos waiting to be posted)"


def test_cluster_bots_set_only_real_settings() -> None:
    for name, bot in bot_services(cluster_compose()).items():
        unknown = set(bot["environment"]) - known_variables()
        assert not unknown, f"{name} sets variables wanbot does not read: {sorted(unknown)}"


def test_cluster_bots_use_the_compose_postgres_with_its_credentials() -> None:
    compose = cluster_compose()
    postgres = compose["services"]["postgres"]["environment"]
    env = {"POSTGRES_PASSWORD": "s3cret"}
    for bot in bot_services(compose).values():
        url = interpolated(bot["environment"]["WANBOT_DB"], env)
        user, db = postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]
        assert url == f"postgresql://{user}:{interpolated(postgres['POSTGRES_PASSWORD'], env)}@postgres:5432/{db}"


def test_cluster_shard_split_covers_every_shard_exactly_once() -> None:
    """Each bot's environment as wanbot reads it: every shard on exactly one bot."""
    shards: list[int] = []
    counts = set()
    for bot in bot_services(cluster_compose()).values():
        env = {name: interpolated(str(value), {"POSTGRES_PASSWORD": "x"}) for name, value in bot["environment"].items()}
        settings = Settings(_env_file=None, **env)
        assert settings.shard_count is not None and settings.shard_ids is not None
        counts.add(settings.shard_count)
        shards += settings.shard_ids
    (count,) = counts
    assert sorted(shards) == list(range(count))


def test_cluster_compose_gpu_examples_parse_and_reserve_one_nvidia_gpu_each() -> None:
    """The commented ComfyUI services are valid YAML once uncommented."""
    yaml = pytest.importorskip("yaml")
    lines = CLUSTER_COMPOSE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "# comfyui-0:")
    block = []
    for line in lines[start:]:
        if not line.startswith("  #"):
            break
        block.append(line.removeprefix("  # "))
    examples = yaml.safe_load("\n".join(block))
    assert set(examples) == {"comfyui-0", "comfyui-1"}
    gpus = []
    for service in examples.values():
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
        gpus += device["device_ids"]
        assert "--listen" in service["command"]
    assert sorted(gpus) == ["0", "1"]
