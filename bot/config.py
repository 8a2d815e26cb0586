"""One TOML file becomes a typed Config, handed to create_app() and the CLI."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_FAQ = PROJECT_ROOT / "faq" / "data" / "faq.yaml"


class ConfigError(Exception):
    """A config file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    max_body_bytes: int = 64 * 1024


@dataclass(frozen=True)
class StorageConfig:
    path: Path = PROJECT_ROOT / "instance" / "bot.db"


@dataclass(frozen=True)
class FaqConfig:
    path: Path = BUNDLED_FAQ
    reload_seconds: float = 2.0


@dataclass(frozen=True)
class BotConfig:
    name: str = "防疫助手"
    # Bands over the matcher's confidence (0..1); see README "Matching".
    answer_threshold: float = 0.45
    suggest_threshold: float = 0.25
    answer_margin: float = 0.2
    max_suggestions: int = 3


@dataclass(frozen=True)
class WechatConfig:
    # repr=False: a logged or printed Config must not show secrets.
    token: str = field(repr=False)
    app_id: str = ""
    encoding_aes_key: str = field(default="", repr=False)
    mode: str = "safe"  # plain, compat or safe


@dataclass(frozen=True)
class WecomConfig:
    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)
    corp_id: str


@dataclass(frozen=True)
class WecomBotConfig:
    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    faq: FaqConfig = field(default_factory=FaqConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    wechat: WechatConfig | None = None
    wecom: WecomConfig | None = None
    wecom_bot: WecomBotConfig | None = None
    source: Path | None = None  # the file this came from, if any


_SECTIONS = {
    "server": ServerConfig,
    "storage": StorageConfig,
    "faq": FaqConfig,
    "bot": BotConfig,
    "wechat": WechatConfig,
    "wecom": WecomConfig,
    "wecom_bot": WecomBotConfig,
}


def load_config(path: str | Path | None = None) -> Config:
    """Read a TOML config file; None gives the defaults (bundled FAQ, instance/bot.db)."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(data, base_dir=path.resolve().parent, source=path)


def config_from_dict(data: dict, base_dir: Path = PROJECT_ROOT, source: Path | None = None) -> Config:
    """Build a Config from parsed TOML; relative paths are taken from base_dir."""
    where = f"{source}: " if source else ""
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"{where}unknown section [{unknown[0]}]")
    sections = {}
    for name, cls in _SECTIONS.items():
        if name in data:
            sections[name] = _section(name, cls, data[name], base_dir, where)
    config = Config(**sections, source=source)
    _validate(config, where)
    return config


def _section(name: str, cls: type, raw: object, base_dir: Path, where: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{where}unknown key {name}.{key}")
        values[key] = _coerce(f"{name}.{key}", known[key].type, value, base_dir, where)
    try:
        return cls(**values)
    except TypeError:
        missing = [f for f in known if f not in values and _required(cls, f)]
        raise ConfigError(f"{where}missing key {name}.{missing[0]}") from None


def _required(cls: type, name: str) -> bool:
    from dataclasses import MISSING

    f = {f.name: f for f in fields(cls)}[name]
    return f.default is MISSING and f.default_factory is MISSING


def _coerce(key: str, annotation: str, value: object, base_dir: Path, where: str):
    expected = str(annotation)
    if expected == "Path":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}{key} must be a path string")
        path = Path(value).expanduser()
        return path if path.is_absolute() else base_dir / path
    if expected == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}{key} must be a number")
        return float(value)
    if expected == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}{key} must be a whole number")
        return value
    if expected == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where}{key} must be a string")
        return value
    return value


def _validate(config: Config, where: str) -> None:
    bot = config.bot
    if not 0 <= bot.suggest_threshold <= bot.answer_threshold <= 1:
        raise ConfigError(f"{where}bot.suggest_threshold must be <= bot.answer_threshold, both within 0..1")
    if not 1 <= bot.max_suggestions <= 10:
        raise ConfigError(f"{where}bot.max_suggestions must be between 1 and 10")
    if not 1 <= config.server.port <= 65535:
        raise ConfigError(f"{where}server.port must be between 1 and 65535")
    if config.server.workers < 1:
        raise ConfigError(f"{where}server.workers must be at least 1")
    if config.wechat and config.wechat.mode not in ("plain", "compat", "safe"):
        raise ConfigError(f"{where}wechat.mode must be plain, compat or safe")
    if config.wechat and config.wechat.mode != "plain":
        if len(config.wechat.encoding_aes_key) != 43:
            raise ConfigError(f"{where}wechat.encoding_aes_key must be 43 characters in {config.wechat.mode} mode")
        if not config.wechat.app_id:
            raise ConfigError(f"{where}wechat.app_id is required in {config.wechat.mode} mode")
    for name in ("wecom", "wecom_bot"):
        section = getattr(config, name)
        if section and len(section.encoding_aes_key) != 43:
            raise ConfigError(f"{where}{name}.encoding_aes_key must be 43 characters")
