"""One TOML file becomes a typed Config, handed to create_app() and the CLI."""
from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field, fields, replace
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
    # The server prunes once a day what `run.py db prune --days keep_days` would (0: never, the default);
    # with prune_tickets, closed tickets too (as --tickets).
    keep_days: int = 0
    prune_tickets: bool = False


@dataclass(frozen=True)
class FaqConfig:
    path: Path = BUNDLED_FAQ
    reload_seconds: float = 2.0
    # Draft entries and alternates from cadres' answers (`faq drafts`, `faq approve`);
    # None: faq-drafts.yaml beside the database.
    drafts_path: Path | None = None
    # The built index is kept between runs in this user's cache directory (faq/kept.py): a start with
    # the FAQ unchanged reads it back instead of building it. False: every start builds.
    keep_index: bool = True


@dataclass(frozen=True)
class BotConfig:
    name: str = "防疫助手"
    # Bands over the matcher's confidence (0..1); see README "How matching works".
    answer_threshold: float = 0.82
    suggest_threshold: float = 0.6
    answer_margin: float = 0.1
    answer_min_probability: float = 0.3
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


# --- The cadre queue ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RouteRule:
    """Questions containing any of the keywords go to the team."""

    team: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class DeadlineRule:
    """When a team's tickets are due: by clock times, or after N working hours."""

    team: str = "*"  # "*" applies to every team without its own rule
    before: str = "17:00"  # asked before this time (on a workday) ...
    due_same_day: str = "21:00"  # ... due at this time the same day,
    due_next_day: str = "10:00"  # else at this time the next workday.
    working_hours: float | None = None  # when set: due after this many working hours instead
    workday_start: str = "09:00"
    workday_end: str = "18:00"
    workdays: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)  # ISO weekdays, 1 = Monday
    holidays: frozenset[dt.date] = frozenset()  # days off whatever their weekday (法定节假日)
    extra_workdays: frozenset[dt.date] = frozenset()  # days worked whatever their weekday (调休上班)

    def is_workday(self, day: dt.date) -> bool:
        if day in self.extra_workdays:
            return True
        return day.isoweekday() in self.workdays and day not in self.holidays


DEFAULT_ROUTES = (
    RouteRule("防控物资组", ("口罩", "消毒液", "测温枪", "防护服", "酒精")),
    RouteRule("用工保障组", ("招工", "用工", "包车", "返岗", "缺工")),
    RouteRule("金融供给组", ("贷款", "资金", "贴息", "融资", "担保")),
    RouteRule("供应链组", ("原料", "原材料", "供应商", "零部件", "配套")),
    RouteRule("物流运输组", ("货车", "通行证", "物流", "运输", "高速")),
)


@dataclass(frozen=True)
class QueueConfig:
    default_team: str = "综合协调组"  # when neither the FAQ nor a keyword rule names a team
    merge_similarity: float = 0.85  # rapidfuzz ratio (0..1) of normalised texts to join an open ticket
    merge_window_hours: float = 24.0  # only tickets opened this recently are joined
    route_min_score: float = 0.3  # top FAQ candidate at least this close: its category's team
    reminder_minutes_before: float = 60.0  # the cadre group is reminded this long before a deadline
    due_soon_minutes: float = 60.0  # `queue list` flags tickets due within this
    scan_seconds: float = 30.0  # how often each worker looks for reminders and alerts
    utc_offset_hours: float = 8.0  # local time for deadlines and acknowledgements (Beijing time)
    routes: tuple[RouteRule, ...] = DEFAULT_ROUTES
    deadlines: tuple[DeadlineRule, ...] = (DeadlineRule(),)
    holidays: frozenset[dt.date] = frozenset()  # for every team's deadlines (merged into each rule when loaded)
    extra_workdays: frozenset[dt.date] = frozenset()

    def deadline_for(self, team: str) -> DeadlineRule:
        for rule in self.deadlines:
            if rule.team == team:
                return rule
        for rule in self.deadlines:
            if rule.team == "*":
                return rule
        return DeadlineRule(holidays=self.holidays, extra_workdays=self.extra_workdays)


@dataclass(frozen=True)
class CadreGroup:
    """A team's cadre group: its chat id (where `#12 答复` is accepted) and its robot's webhook key."""

    team: str
    chat: str
    webhook_key: str = field(default="", repr=False)


@dataclass(frozen=True)
class CadresConfig:
    groups: tuple[CadreGroup, ...] = ()

    def for_team(self, team: str) -> CadreGroup | None:
        return next((g for g in self.groups if g.team == team), None)

    def for_chat(self, chat: str) -> CadreGroup | None:
        return next((g for g in self.groups if g.chat == chat), None) if chat else None


@dataclass(frozen=True)
class DeliveryConfig:
    api_base: str = "https://qyapi.weixin.qq.com"  # WeCom: group robot webhook, app messages
    wechat_api_base: str = "https://api.weixin.qq.com"  # Official Account customer-service messages
    wechat_app_secret: str = field(default="", repr=False)  # OA AppSecret ([wechat] app_id is the AppID)
    wecom_app_secret: str = field(default="", repr=False)  # WeCom app Secret ([wecom] corp_id)
    wecom_agent_id: int = 0
    robot_format: str = "text"  # group robot messages: "text" (mentioned_list) or "markdown" (<@userid>)
    timeout_seconds: float = 5.0
    retry_first_seconds: float = 1.0  # backoff: first retry after this, doubling ...
    retry_max_seconds: float = 300.0  # ... up to this
    max_attempts: int = 40  # then the delivery is marked failed (shown by `queue show`)
    lease_seconds: float = 60.0  # a worker that died mid-send: its items are retried after this
    poll_seconds: float = 0.5
    threads: int = 2  # delivery threads per process
    in_server: bool = True  # run the delivery worker and deadline scanner in every server worker


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    faq: FaqConfig = field(default_factory=FaqConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    wechat: WechatConfig | None = None
    wecom: WecomConfig | None = None
    wecom_bot: WecomBotConfig | None = None
    queue: QueueConfig = field(default_factory=QueueConfig)
    cadres: CadresConfig = field(default_factory=CadresConfig)
    robots: dict = field(default_factory=dict, repr=False)  # group chat id -> its robot's webhook key (a secret)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    source: Path | None = None  # the file this came from, if any


_SECTIONS = {
    "server": ServerConfig,
    "storage": StorageConfig,
    "faq": FaqConfig,
    "bot": BotConfig,
    "wechat": WechatConfig,
    "wecom": WecomConfig,
    "wecom_bot": WecomBotConfig,
    "queue": QueueConfig,
    "cadres": CadresConfig,
    "robots": dict,
    "delivery": DeliveryConfig,
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
        if name not in data:
            continue
        if name == "queue":
            sections[name] = _queue_section(data[name], base_dir, where)
        elif name == "cadres":
            sections[name] = _cadres_section(data[name], where)
        elif name == "robots":
            sections[name] = _robots_section(data[name], where)
        else:
            sections[name] = _section(name, cls, data[name], base_dir, where)
    config = Config(**sections, source=source)
    _validate(config, where)
    return config


def _section(name: str, cls: type, raw: object, base_dir: Path, where: str, special: dict | None = None):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{where}unknown key {name}.{key}")
        if special and key in special:
            values[key] = special[key](f"{name}.{key}", value)
            continue
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
    if expected.endswith(" | None"):
        expected = expected[: -len(" | None")]
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
    if expected == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}{key} must be true or false")
        return value
    return value


def _clock_time(key: str, value: object, where: str) -> str:
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[0]) < 24 and int(parts[1]) < 60:
            return f"{int(parts[0]):02d}:{int(parts[1]):02d}"
    raise ConfigError(f"{where}{key} must be a time like \"17:00\"")


def _words(key: str, value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}{key} must be a non-empty list of words")
    return tuple(v.strip() for v in value)


def _table_list(key: str, value: object, where: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where}{key} must be an array of tables ([[{key}]])")
    return value


def _queue_section(raw: object, base_dir: Path, where: str) -> QueueConfig:
    def routes(key: str, value: object) -> tuple[RouteRule, ...]:
        rules = []
        for i, item in enumerate(_table_list(key, value, where)):
            here = f"{key}[{i}]"
            unknown = sorted(set(item) - {"team", "keywords"})
            if unknown:
                raise ConfigError(f"{where}unknown key {here}.{unknown[0]}")
            if not isinstance(item.get("team"), str) or not item["team"].strip():
                raise ConfigError(f"{where}{here}.team must be a team name")
            rules.append(RouteRule(item["team"].strip(), _words(f"{here}.keywords", item.get("keywords"), where)))
        return tuple(rules)

    def deadlines(key: str, value: object) -> tuple[DeadlineRule, ...]:
        rules = []
        for i, item in enumerate(_table_list(key, value, where)):
            here = f"{key}[{i}]"
            special = {
                name: (lambda k, v: _clock_time(k, v, where))
                for name in ("before", "due_same_day", "due_next_day", "workday_start", "workday_end")
            }
            special["workdays"] = lambda k, v: _workdays(k, v, where)
            special["holidays"] = special["extra_workdays"] = lambda k, v: _dates(k, v, where)
            rule = _section(here, DeadlineRule, item, base_dir, where, special)
            if rule.working_hours is not None and rule.working_hours <= 0:
                raise ConfigError(f"{where}{here}.working_hours must be more than 0")
            if rule.workday_start >= rule.workday_end:
                raise ConfigError(f"{where}{here}.workday_start must be before workday_end")
            rules.append(rule)
        return tuple(rules)

    dates = lambda k, v: _dates(k, v, where)  # noqa: E731
    special = {"routes": routes, "deadlines": deadlines, "holidays": dates, "extra_workdays": dates}
    queue = _section("queue", QueueConfig, raw, base_dir, where, special)
    # Every rule knows the calendar, so deadlines.py needs nothing but the rule.
    rules = tuple(
        replace(r, holidays=r.holidays | queue.holidays, extra_workdays=r.extra_workdays | queue.extra_workdays)
        for r in queue.deadlines
    )
    for rule in rules:
        both = sorted(rule.holidays & rule.extra_workdays)
        if both:
            raise ConfigError(f"{where}{both[0].isoformat()} is both a holiday and an extra workday (deadline rule for team {rule.team})")
    return replace(queue, deadlines=rules)


def _dates(key: str, value: object, where: str) -> frozenset[dt.date]:
    """Dates as TOML dates (2020-04-06) or strings ("2020-04-06")."""
    if not isinstance(value, list):
        raise ConfigError(f"{where}{key} must be a list of dates like 2020-04-06")
    days = set()
    for item in value:
        if isinstance(item, str):
            try:
                item = dt.date.fromisoformat(item.strip())
            except ValueError:
                raise ConfigError(f"{where}{key}: {item!r} is not a date like 2020-04-06") from None
        if isinstance(item, dt.datetime) or not isinstance(item, dt.date):
            raise ConfigError(f"{where}{key}: {item!r} is not a date like 2020-04-06")
        days.add(item)
    return frozenset(days)


def _workdays(key: str, value: object, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and 1 <= v <= 7 for v in value):
        raise ConfigError(f"{where}{key} must be a list of ISO weekdays 1..7 (1 = Monday)")
    return tuple(sorted(set(value)))


def _cadres_section(raw: object, where: str) -> CadresConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[cadres] must be a table")
    unknown = sorted(set(raw) - {"groups"})
    if unknown:
        raise ConfigError(f"{where}unknown key cadres.{unknown[0]}")
    groups = []
    for i, item in enumerate(_table_list("cadres.groups", raw.get("groups", []), where)):
        here = f"cadres.groups[{i}]"
        unknown = sorted(set(item) - {"team", "chat", "webhook_key"})
        if unknown:
            raise ConfigError(f"{where}unknown key {here}.{unknown[0]}")
        for key in ("team", "chat"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise ConfigError(f"{where}missing key {here}.{key}")
        key = item.get("webhook_key", "")
        if not isinstance(key, str):
            raise ConfigError(f"{where}{here}.webhook_key must be a string")
        groups.append(CadreGroup(item["team"].strip(), item["chat"].strip(), key.strip()))
    return CadresConfig(tuple(groups))


def _robots_section(raw: object, where: str) -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[robots] must be a table of chat id = \"webhook key\"")
    for chat, key in raw.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}robots.{chat} must be the robot's webhook key (a string)")
    return dict(raw)


def _validate(config: Config, where: str) -> None:
    bot = config.bot
    if not 0 <= bot.suggest_threshold <= bot.answer_threshold <= 1:
        raise ConfigError(f"{where}bot.suggest_threshold must be <= bot.answer_threshold, both within 0..1")
    if not 0 <= bot.answer_min_probability <= 1:
        raise ConfigError(f"{where}bot.answer_min_probability must be within 0..1")
    if not 1 <= bot.max_suggestions <= 10:
        raise ConfigError(f"{where}bot.max_suggestions must be between 1 and 10")
    if config.storage.keep_days < 0:
        raise ConfigError(f"{where}storage.keep_days must be 0 (never prune) or more")
    if not 1 <= config.server.port <= 65535:
        raise ConfigError(f"{where}server.port must be between 1 and 65535")
    if config.server.workers < 1:
        raise ConfigError(f"{where}server.workers must be at least 1")
    if config.server.max_body_bytes < 1024:  # Tencent's messages are a few KB: less refuses them all
        raise ConfigError(f"{where}server.max_body_bytes must be at least 1024")
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
    queue = config.queue
    if not queue.default_team.strip():
        raise ConfigError(f"{where}queue.default_team must be a team name")
    if not 0 < queue.merge_similarity <= 1:
        raise ConfigError(f"{where}queue.merge_similarity must be within 0..1")
    if queue.merge_window_hours < 0:
        raise ConfigError(f"{where}queue.merge_window_hours must be 0 or more")
    if not -14 <= queue.utc_offset_hours <= 14:
        raise ConfigError(f"{where}queue.utc_offset_hours must be within -14..14")
    if queue.scan_seconds <= 0:
        raise ConfigError(f"{where}queue.scan_seconds must be more than 0")
    delivery = config.delivery
    if delivery.robot_format not in ("text", "markdown"):
        raise ConfigError(f"{where}delivery.robot_format must be text or markdown")
    for key in ("api_base", "wechat_api_base"):
        if not getattr(delivery, key).startswith(("http://", "https://")):
            raise ConfigError(f"{where}delivery.{key} must be an http(s) URL")
    for key in ("timeout_seconds", "retry_first_seconds", "retry_max_seconds", "lease_seconds", "poll_seconds"):
        if getattr(delivery, key) <= 0:
            raise ConfigError(f"{where}delivery.{key} must be more than 0")
    if delivery.lease_seconds <= delivery.timeout_seconds:
        raise ConfigError(f"{where}delivery.lease_seconds must be longer than delivery.timeout_seconds")
    if delivery.max_attempts < 1 or delivery.threads < 1:
        raise ConfigError(f"{where}delivery.max_attempts and delivery.threads must be at least 1")
