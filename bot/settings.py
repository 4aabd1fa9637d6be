"""Settings: every knob the operator can turn, read from the environment and `.env`.

`load_settings()` turns a pydantic validation failure into one readable line per problem
(which variable, what is wrong, an example of a good value) so start-up never shows a traceback.
Each problem also says whether the value came from the caller (a command-line flag) rather than
the environment, so the CLI can name the flag the operator actually typed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.store_target import StoreTarget, parse_target
from bot.urls import redacted_url, url_problem

__all__ = ["Settings", "SettingProblem", "SettingsError", "load_settings", "EXAMPLES"]

# Shown next to a problem so the operator sees what a good value looks like.
EXAMPLES: dict[str, str] = {
    "DISCORD_TOKEN": "MTIz...(Bot token from https://discord.com/developers/applications → Bot → Reset Token)",
    "COMFYUI_URLS": "http://127.0.0.1:8188,http://gpu2:8188",
    "COMFYUI_TOKEN": "a bearer token your ComfyUI proxy expects (leave unset if none)",
    "COMFYUI_TOKEN_IN_QUERY": "true (also send the token as ?token= on the websocket URL)",
    "WANBOT_WORKFLOW": "wan-wrapper (or wan-native, or ./my_template.json; wan-wrapper,wan-wrapper-i2v for pictures too)",
    "WANBOT_DB": "data/wanbot.db or postgresql://wanbot:password@db-host/wanbot",
    "WANBOT_DATA_DIR": "data (finished videos wait in its outputs/ folder until posted)",
    "WANBOT_STALL_SECONDS": "600",
    "WANBOT_MAX_DOWNLOAD_MB": "512",
    "WANBOT_LOG_FORMAT": "text (or json)",
    "WANBOT_VIDEOS_PER_HOUR": "5",
    "WANBOT_BURST": "2",
    "WANBOT_MAX_ACTIVE": "2",
    "WANBOT_MAX_QUEUED": "500",
    "WANBOT_MAX_ATTEMPTS": "3",
    "WANBOT_DISCORD_GUILDS": "123456789012345678,234567890123456789",
    "WANBOT_ADMIN_ROLE": "Video Admin (a role name or id)",
    "WANBOT_PUBLIC_OUTPUT_URL": "https://videos.example.com/wanbot (serving data/outputs/too-large/)",
    "WANBOT_LOG_LEVEL": "INFO",
    "WANBOT_HTTP_HOST": "127.0.0.1 (0.0.0.0 to let Prometheus in another container scrape /metrics)",
    "WANBOT_HTTP_PORT": "8080 (0 turns the /healthz and /metrics server off)",
    "WANBOT_SHUTDOWN_GRACE": "30",
    "WANBOT_ENCODE_CONCURRENCY": "1 (videos re-encoded to fit Discord's limit at once; each uses every core)",
    "WANBOT_AFFINITY_WINDOW": "4 (places a job may be moved back so a GPU keeps its loaded model; 0: strict fair order)",
    "WANBOT_IMAGE_KEEP_DAYS": "7 (days a start picture is kept after its last use, for Reroll and Same settings)",
    "WANBOT_PREVIEW": "still (or animated, or off)",
    "WANBOT_PREVIEW_UPLOADS_PER_SECOND": "5 (status-card edits carrying a preview image, for all cards together)",
    # Several processes (a cluster).
    "WANBOT_SHARD_COUNT": "2 (the same number on every process of the bot)",
    "WANBOT_SHARD_IDS": "0,1 (with WANBOT_SHARD_COUNT=4: this process connects shards 0 and 1 of 0-3)",
    "WANBOT_LEASE_SECONDS": "15 (a process that dies leaves its videos this long before another one adopts them)",
}


@dataclass(frozen=True)
class SettingProblem:
    """One unusable setting."""

    field: str  # the Settings field
    variable: str  # the environment variable that holds it (the one the operator set)
    message: str
    example: str | None
    from_caller: bool  # given to load_settings (a command-line flag), not read from the environment

    def line(self, name: str | None = None, example: str | None = None) -> str:
        """`VARIABLE: what is wrong (example: ...)`; `name` and `example` replace the variable
        and its example (for a flag)."""
        example = example or self.example
        hint = f" (example: {example})" if example else ""
        return f"{name or self.variable}: {self.message}{hint}"


class SettingsError(Exception):
    """Start-up configuration is unusable; `lines` are ready to print, one per problem."""

    def __init__(self, problems: list[SettingProblem]) -> None:
        self.problems = problems
        self.lines = [problem.line() for problem in problems]
        super().__init__("\n".join(self.lines))


def _split_urls(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """The operator's configuration. Field aliases are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    discord_token: SecretStr | None = Field(default=None, alias="DISCORD_TOKEN")
    comfyui_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8188"],
        validation_alias=AliasChoices("COMFYUI_URLS", "COMFYUI_URL"),
    )
    comfyui_token: SecretStr | None = Field(default=None, alias="COMFYUI_TOKEN")
    comfyui_token_in_query: bool = Field(default=False, alias="COMFYUI_TOKEN_IN_QUERY")
    workflow: str = Field(default="wan-wrapper", alias="WANBOT_WORKFLOW")
    # A SQLite file, sqlite:///file, or postgresql://user:password@host/database.
    database: Annotated[StoreTarget, NoDecode] = Field(
        default_factory=lambda: parse_target("data/wanbot.db"), alias="WANBOT_DB"
    )
    # Local files (videos waiting to be posted, the command-sync state): beside the SQLite
    # file unless set; `data/` for PostgreSQL.
    data_dir: Path | None = Field(default=None, alias="WANBOT_DATA_DIR")
    stall_seconds: float = Field(default=600.0, gt=0, alias="WANBOT_STALL_SECONDS")
    max_download_mb: int = Field(default=512, gt=0, alias="WANBOT_MAX_DOWNLOAD_MB")
    log_format: str = Field(default="text", pattern="^(text|json)$", alias="WANBOT_LOG_FORMAT")
    log_level: str = Field(
        default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", alias="WANBOT_LOG_LEVEL"
    )
    # /healthz and /metrics. Loopback by default: the metrics are not secret but not public
    # either. Port 0 turns the server off (a random port would be one nobody can find to scrape).
    http_host: str = Field(default="127.0.0.1", min_length=1, alias="WANBOT_HTTP_HOST")
    http_port: int = Field(default=8080, ge=0, le=65535, alias="WANBOT_HTTP_PORT")
    # On SIGTERM, how long to wait for in-flight downloads and posts before exiting. ComfyUI keeps
    # rendering meanwhile and the next start re-attaches, so this need not cover a whole render.
    shutdown_grace: float = Field(default=30.0, ge=0, alias="WANBOT_SHUTDOWN_GRACE")

    # Queue limits (defaults for every guild; admins override per guild and per role).
    videos_per_hour: float = Field(default=5.0, gt=0, alias="WANBOT_VIDEOS_PER_HOUR")
    burst: int = Field(default=2, ge=1, alias="WANBOT_BURST")
    max_active: int = Field(default=2, ge=1, alias="WANBOT_MAX_ACTIVE")
    max_queued: int = Field(default=500, ge=1, alias="WANBOT_MAX_QUEUED")
    max_attempts: int = Field(default=3, ge=1, alias="WANBOT_MAX_ATTEMPTS")
    # Discord: guilds to sync commands to at once (global sync takes up to an hour to show),
    # and a role that may use the admin commands besides members with Manage Server.
    discord_guilds: Annotated[list[int], NoDecode] = Field(default_factory=list, alias="WANBOT_DISCORD_GUILDS")
    admin_role: str | None = Field(default=None, alias="WANBOT_ADMIN_ROLE")
    # A video too large for Discord even after re-encoding is kept in <data dir>/outputs/too-large/
    # as job-<id>.mp4; when the operator serves that folder, members get <this URL>/job-<id>.mp4.
    public_output_url: str | None = Field(default=None, alias="WANBOT_PUBLIC_OUTPUT_URL")
    # Re-encodes (a video over the upload limit) running at once; the others wait their turn.
    # Each is CPU-bound and uses every core, so more than one mostly makes each slower.
    encode_concurrency: int = Field(default=1, ge=1, alias="WANBOT_ENCODE_CONCURRENCY")
    # Warm-model affinity: a backend prefers jobs of the template whose models it has loaded
    # (switching a GPU between the 1.3B and 14B models costs a reload), but no job is moved
    # back more than this many places in all. 0 keeps the strict fair order.
    affinity_window: int = Field(default=4, ge=0, le=100, alias="WANBOT_AFFINITY_WINDOW")
    # Members' start pictures (image-to-video) are kept in <db folder>/outputs/images/ while a job
    # uses them and this long after their last use, so Reroll and Same settings can start again.
    image_keep_days: float = Field(default=7.0, gt=0, alias="WANBOT_IMAGE_KEEP_DAYS")

    # Live previews on the status card while the sampler runs: the latest frame, the last few as
    # a small loop, or none (and ComfyUI is asked not to make any).
    preview: Literal["off", "still", "animated"] = Field(default="still", alias="WANBOT_PREVIEW")
    # Every edit of a card that shows a preview uploads the image again; this caps those uploads
    # for all cards together (bandwidth, and well under Discord's global 50 requests a second).
    preview_uploads_per_second: float = Field(default=5.0, gt=0, le=40, alias="WANBOT_PREVIEW_UPLOADS_PER_SECOND")

    # Several processes (a cluster): the Discord gateway's shards split between them. Unset, one
    # process connects every shard and Discord recommends how many. Delivery and card edits go
    # through the REST API, so only interactions care which process holds which guild's shard.
    shard_count: int | None = Field(default=None, ge=1, alias="WANBOT_SHARD_COUNT")
    shard_ids: Annotated[list[int] | None, NoDecode] = Field(default=None, alias="WANBOT_SHARD_IDS")
    # A process holds the videos it renders or posts under a lease it renews every third of this;
    # when it dies, another process (or its own next start) adopts them once the lease runs out.
    # Shorter: faster adoption; longer: a process may stall (GC, a slow disk) that long unharmed.
    lease_seconds: float = Field(default=15.0, ge=1, le=600, alias="WANBOT_LEASE_SECONDS")

    @property
    def workflows(self) -> list[str]:
        """WANBOT_WORKFLOW may list several templates (comma-separated); the first is the default."""
        return [part.strip() for part in self.workflow.split(",") if part.strip()]

    @property
    def output_dir(self) -> Path:
        """Finished videos wait here until posted: in the data folder (by default beside the
        SQLite file, so on the same volume)."""
        return self.local_dir / "outputs"

    @property
    def local_dir(self) -> Path:
        """WANBOT_DATA_DIR, or its default: the SQLite file's folder, or `data` for PostgreSQL."""
        if self.data_dir is not None:
            return self.data_dir
        return self.database.path.parent if self.database.path is not None else Path("data")

    @property
    def db_path(self) -> Path | None:
        """The SQLite file (None on PostgreSQL)."""
        return self.database.path

    @model_validator(mode="before")
    @classmethod
    def _db_path_is_the_database(cls, data: Any) -> Any:
        # `load_settings(db_path=...)`, as tests and tools have always written it.
        if isinstance(data, dict) and "db_path" in data:
            data = dict(data)
            data.setdefault("database", data.pop("db_path"))
        return data

    @field_validator("database", mode="before")
    @classmethod
    def _parse_database(cls, value: Any) -> Any:
        if isinstance(value, (str, Path)):
            return parse_target(value)
        return value

    @field_validator("workflow")
    @classmethod
    def _names_a_template(cls, value: str) -> str:
        if not any(part.strip() for part in value.split(",")):
            raise ValueError("names no template")
        return value

    @field_validator("discord_guilds", mode="before")
    @classmethod
    def _parse_guilds(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _parse_shard_ids(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parts = [part.strip() for part in value.split(",") if part.strip()]
        for part in parts:
            if not (part.isascii() and part.isdigit()):
                raise ValueError(f"{part!r} is not a shard number (0, 1, 2...)")
        return [int(part) for part in parts]

    @field_validator("shard_ids")
    @classmethod
    def _check_shard_ids(cls, ids: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if ids is None:
            return None
        if not ids:
            raise ValueError("is empty: name this process's shards, or leave it unset for all of them")
        if "shard_count" not in info.data:
            return ids  # WANBOT_SHARD_COUNT is wrong itself: that is the problem to report
        count = info.data["shard_count"]
        if count is None:
            raise ValueError("needs WANBOT_SHARD_COUNT (the total number of shards, the same on every process)")
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"names shard {repeated[0]} twice")
        outside = [i for i in ids if i < 0 or i >= count]
        if outside:
            shards = "shard 0 only" if count == 1 else f"shards 0 to {count - 1}"
            raise ValueError(f"shard {outside[0]} does not exist: WANBOT_SHARD_COUNT={count} makes {shards}")
        return sorted(ids)

    @field_validator("comfyui_urls", mode="before")
    @classmethod
    def _parse_urls(cls, value: Any) -> Any:
        return _split_urls(value)

    @field_validator("comfyui_urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        if not urls:
            raise ValueError("no ComfyUI server given")
        for url in urls:
            problem = url_problem(url)
            if problem:
                raise ValueError(f"{redacted_url(url)!r} {problem}")
        return [url.rstrip("/") for url in urls]


def _field_named(name: str) -> tuple[str, Any]:
    """The field for an error location: a field name (given by the caller) or an env alias."""
    if name in Settings.model_fields:
        return name, Settings.model_fields[name]
    for field_name, info in Settings.model_fields.items():
        if name.upper() in _variables(info):
            return field_name, info
    return name, None


def _variables(info: Any) -> list[str]:
    if isinstance(info.validation_alias, AliasChoices):
        return [str(choice).upper() for choice in info.validation_alias.choices]
    return [str(info.alias).upper()] if info.alias else []


def _variable_used(choices: list[str]) -> str:
    """Which of several accepted names the operator set: pydantic-settings reports them all
    under the first, but telling someone who wrote COMFYUI_URL to fix COMFYUI_URLS misleads."""
    if len(choices) > 1:
        sources = [{k.upper() for k in os.environ}, _dotenv_names()]
        for names in sources:
            for choice in choices:
                if choice in names:
                    return choice
    return choices[0]


def _dotenv_names() -> set[str]:
    env_file = Settings.model_config.get("env_file")
    if not isinstance(env_file, (str, Path)) or not Path(env_file).is_file():
        return set()
    return {name.upper() for name in dotenv_values(env_file)}


def _describe(error: dict[str, Any]) -> SettingProblem:
    loc = error.get("loc") or ("?",)
    field_name, info = _field_named(str(loc[0]))
    choices = _variables(info) if info is not None else []
    variable = _variable_used(choices) if choices else field_name.upper()
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    return SettingProblem(field=field_name, variable=variable, message=message,
                          example=EXAMPLES.get(choices[0] if choices else variable),
                          from_caller=str(loc[0]) == field_name)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment, `.env` and `overrides` (field names).

    Raises SettingsError with one line per problem instead of a pydantic traceback.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError([_describe(err) for err in exc.errors()]) from None
