"""The admins' FAQ file: YAML in, a checked Faq out, or every problem with file:line."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import yaml

from bot.replies import MAX_REPLY_BYTES
from faq.bulk import bulk_build
from faq.text import normalize_many

# libyaml's parser is ~10x faster; the base resolver leaves every scalar as text, which is all the
# format has (dates are checked as text), and skips PyYAML's costly implicit-type guessing.
_BaseLoader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_DEFAULT_TAGS = {
    yaml.ScalarNode: yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG,
    yaml.SequenceNode: yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    yaml.MappingNode: yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
}


class _Loader(_BaseLoader):
    """The base loader, with its resolver's answer given directly: it has no implicit or path
    resolvers, so every node gets its kind's default tag (a tenth of the parse of a large FAQ)."""

    def resolve(self, kind, value, implicit):
        return _DEFAULT_TAGS[kind]

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
TOP_KEYS = {"version", "categories", "synonyms", "entries"}
CATEGORY_KEYS = {"id", "name", "team"}
ENTRY_KEYS = {"id", "category", "question", "alternates", "keywords", "answer", "source", "effective", "review_by"}
SUPPORTED_VERSIONS = {1}
_STR_TAG = "tag:yaml.org,2002:str"
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})  # YAML 1.1's null, written plain
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Characters YAML reads as line breaks, so that every line number after them would be off: pasted
# from a web page or a word processor, and invisible in most editors.
_ODD_BREAKS = re.compile("[\x85\u2028\u2029]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an FAQ file, at a line."""

    path: str
    line: int
    message: str
    severity: str = "error"  # or "warning", which does not stop a load

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


class FaqError(Exception):
    """An FAQ file with errors; it is refused whole."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    team: str | None = None


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    question: str
    answer: str
    alternates: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    source: str | None = None
    effective: dt.date | None = None
    review_by: dt.date | None = None
    line: int = 0
    normalized: tuple[str, ...] = ()  # the phrasings as the matcher sees them, computed once at load

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The question and its alternates: every way the entry is asked."""
        return (self.question, *self.alternates)


@dataclass(frozen=True)
class Faq:
    entries: tuple[Entry, ...]
    categories: dict[str, Category]
    synonyms: tuple[tuple[str, ...], ...] = ()
    path: str = ""
    version: str = ""  # the first 12 hex digits of the file's SHA-256: which edit of the FAQ answered
    warnings: tuple[Problem, ...] = ()
    by_id: dict[str, Entry] = field(default_factory=dict)

    def team_for(self, entry_id: str) -> str | None:
        """The cadre team that takes escalations close to this entry."""
        entry = self.by_id.get(entry_id)
        category = self.categories.get(entry.category) if entry else None
        return category.team if category else None


def load_faq(path: str | Path, today: dt.date | None = None, raw: bytes | None = None) -> Faq:
    """Load and check an FAQ file (or `raw`, its bytes as already read); raise FaqError listing every error."""
    with bulk_build():
        faq, problems = _parse(Path(path), today or dt.date.today(), raw)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise FaqError(errors)
    return faq


def check_faq(path: str | Path, today: dt.date | None = None) -> tuple[Faq | None, list[Problem]]:
    """Every problem (errors and warnings) in an FAQ file, and the Faq if it has no errors."""
    faq, problems = _parse(Path(path), today or dt.date.today())
    if any(p.severity == "error" for p in problems):
        return None, problems
    return faq, problems


class _Checker:
    """Walks the YAML node tree so every problem can name its line."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")  # only its construct_object is used

    def error(self, node_or_line, message: str, severity: str = "error") -> None:
        line = node_or_line if isinstance(node_or_line, int) else node_or_line.start_mark.line + 1
        self.problems.append(Problem(self.path, line, message, severity))

    def mapping(self, node, allowed: set[str], what: str) -> dict[str, tuple]:
        """Keys to (key node, value node); reports unknown and repeated keys."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping of keys to values")
            return {}
        result: dict[str, tuple] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                self.error(key_node, f"unknown key {key!r} in {what} (allowed: {hint})")
                continue
            if key in result:
                self.error(key_node, f"key {key!r} appears twice in {what}")
                continue
            result[key] = (key_node, value_node)
        return result

    def value(self, node):
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
            if not node.style and node.value in _NULLS:  # plain: the C composer says "", the other None
                return ""  # YAML's "no value" (answer: ~), not the text "~"
            return node.value  # most values are plain text: skip the constructor
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.error(node, f"cannot read value: {exc}")
        except RecursionError:
            self.error(node, "lists or mappings nested too deeply")
        return None

    def text(self, node, what: str, required: bool = True) -> str | None:
        if node is None:
            return None
        value = self.value(node)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(node.value)
        if not isinstance(value, str):
            self.error(node, f"{what} must be text")
            return None
        if required and not value.strip():
            self.error(node, f"{what} is empty")
            return None
        return value.strip()

    def text_list(self, node, what: str) -> list[tuple[str, int]]:
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list, like [a, b]")
            return []
        items = []
        for item in node.value:
            text = self.text(item, f"each of {what}")
            if text:
                items.append((text, item.start_mark.line + 1))
        return items

    def date(self, node, what: str) -> dt.date | None:
        if node is None:
            return None
        value = self.value(node)
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str) and _DATE.match(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.error(node, f"{what} must be a date like 2020-02-21")
        return None


def _parse(path: Path, today: dt.date, raw: bytes | None = None) -> tuple[Faq | None, list[Problem]]:
    check = _Checker(path)
    try:
        raw = path.read_bytes() if raw is None else raw
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text would
    except FileNotFoundError:
        check.error(1, "no such file")
        return None, check.problems
    except UnicodeDecodeError as exc:
        # Saved in another encoding (GBK, say): name the line with the first byte that is not UTF-8.
        check.error(raw[: exc.start].count(b"\n") + 1, "not UTF-8 text; save the file as UTF-8")
        return None, check.problems
    except OSError as exc:
        check.error(1, f"cannot read the file: {exc}")
        return None, check.problems
    if "\x85" in text or "\u2028" in text or "\u2029" in text:  # `in`: a tenth of a search's time
        for found in _ODD_BREAKS.finditer(text):
            _invisible(check, text, found.start(), found.group())
        return None, check.problems
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        check.error(*_yaml_error(exc))
        return None, check.problems
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (it gives no line)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        # Its first place is where reading stopped (libyaml's position counts bytes, not characters).
        _invisible(check, text, text.find(char), char)
        return None, check.problems
    except yaml.YAMLError as exc:
        check.error(1, f"not valid YAML: {exc}")
        return None, check.problems
    if root is None:
        check.error(1, "the file is empty; it needs version, categories and entries")
        return None, check.problems

    top = check.mapping(root, TOP_KEYS, "the top level")
    if not top and not check.problems:
        check.error(root, "the file needs version, categories and entries")
    _check_version(check, top, root)
    categories = _categories(check, top, root)
    synonyms = _synonyms(check, top)
    entries = _entries(check, top, root, categories, today)
    faq = Faq(
        entries=tuple(entries),
        categories=categories,
        synonyms=tuple(synonyms),
        path=str(path),
        version=hashlib.sha256(raw).hexdigest()[:12],  # of the bytes: what sha256sum says
        warnings=tuple(p for p in check.problems if p.severity == "warning"),
        by_id={e.id: e for e in entries},
    )
    return faq, sorted(check.problems, key=lambda p: p.line)


def _yaml_error(exc: yaml.MarkedYAMLError) -> tuple[int, str]:
    """The line to name and the message for a YAML syntax error.

    A scanner's error is about the token it began at its context mark (an open quote, a key without
    its colon: 问题：… with a full-width colon), found wrong only later, at the end of the file, say;
    a parser's is where the problem is (its context is the block around it, often the whole file).
    """
    problem, context = exc.problem_mark, exc.context_mark
    starts_there = isinstance(exc, yaml.scanner.ScannerError) and context is not None
    mark = context if starts_there else (problem or context)
    line = mark.line + 1 if mark else 1
    message = f"not valid YAML: {exc.problem or exc.context}"
    if starts_there and exc.context and problem is not None and problem.line != context.line:
        message = f"not valid YAML: {exc.context} here, {exc.problem} at line {problem.line + 1}"
    return line, message


def _invisible(check: _Checker, text: str, position: int, char: str) -> None:
    """Report an invisible character that the file must not hold, at its line."""
    name = unicodedata.name(char, "a control character" if unicodedata.category(char) == "Cc" else "not a character").lower()
    check.error(text.count("\n", 0, position) + 1, f"an invisible character U+{ord(char):04X} ({name}); delete it")


def _check_version(check: _Checker, top: dict, root) -> None:
    if "version" not in top:
        if isinstance(root, yaml.MappingNode):
            check.error(root, "missing key 'version' (write: version: 1)")
        return
    node = top["version"][1]
    version = check.value(node)
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version)
    if version not in SUPPORTED_VERSIONS:
        check.error(node, f"unsupported version {version!r} (this bot reads version 1)")


def _categories(check: _Checker, top: dict, root) -> dict[str, Category]:
    if "categories" not in top:
        if isinstance(root, yaml.MappingNode):
            check.error(root, "missing key 'categories'")
        return {}
    node = top["categories"][1]
    if not isinstance(node, yaml.SequenceNode):
        check.error(node, "categories must be a list")
        return {}
    categories: dict[str, Category] = {}
    for item in node.value:
        fields = check.mapping(item, CATEGORY_KEYS, "a category")
        if not fields:
            continue
        cid = check.text(fields.get("id", (None, None))[1], "category id") if "id" in fields else None
        if "id" not in fields:
            check.error(item, "category without an id")
        name = check.text(fields["name"][1], "category name") if "name" in fields else None
        if "name" not in fields:
            check.error(item, f"category {cid or ''} has no name".replace("  ", " "))
        team = check.text(fields["team"][1], "category team") if "team" in fields else None
        if not cid:
            continue
        if not ID_PATTERN.match(cid):
            check.error(fields["id"][1], f"bad category id {cid!r}: use lower-case letters, digits, '.' and '-'")
        if cid in categories:
            check.error(fields["id"][1], f"duplicate category id {cid!r}")
            continue
        categories[cid] = Category(cid, name or cid, team)
    return categories


def _synonyms(check: _Checker, top: dict) -> list[tuple[str, ...]]:
    if "synonyms" not in top:
        return []
    node = top["synonyms"][1]
    if not isinstance(node, yaml.SequenceNode):
        check.error(node, "synonyms must be a list of lists, like - [消毒, 消杀]")
        return []
    groups = []
    for item in node.value:
        words = [w for w, _ in check.text_list(item, "a synonym group")]
        if isinstance(item, yaml.SequenceNode) and len(words) < 2:
            check.error(item, "a synonym group needs at least two words")
        elif len(words) >= 2:
            groups.append(tuple(words))
    return groups


def _entries(check: _Checker, top: dict, root, categories: dict, today: dt.date) -> list[Entry]:
    if "entries" not in top:
        if isinstance(root, yaml.MappingNode):
            check.error(root, "missing key 'entries'")
        return []
    node = top["entries"][1]
    if not isinstance(node, yaml.SequenceNode):
        check.error(node, "entries must be a list")
        return []
    # (item, its fields or None, the problems they have), so that each entry's problems are reported
    # just before its duplicates', as when entries were checked in one pass.
    checked = []
    for item in node.value:
        before = len(check.problems)
        checked.append((item, _entry_fields(check, item, categories, today), check.problems[before:]))
        del check.problems[before:]
    # The phrasings as the matcher sees them, all normalised at once.
    normalized = iter(normalize_many([p for _, fields, _ in checked if fields for p in (fields["question"], *fields["alternates"])]))
    entries: list[Entry] = []
    seen_ids: dict[str, int] = {}
    seen_phrasings: dict[str, tuple[Entry, object, int]] = {}  # normalised -> (entry, its node, which phrasing)
    for item, fields, problems in checked:
        check.problems += problems
        if fields is None:
            continue
        entry = Entry(**fields, normalized=tuple(islice(normalized, 1 + len(fields["alternates"]))))
        if entry.id in seen_ids:
            check.error(entry.line, f"duplicate id {entry.id!r} (first at line {seen_ids[entry.id]})")
            continue
        seen_ids[entry.id] = entry.line
        for position, key in enumerate(entry.normalized):
            if not key:
                continue
            other = seen_phrasings.get(key)
            if other is None:
                seen_phrasings[key] = (entry, item, position)
                continue
            # Lines are looked up only for a problem: a large FAQ has tens of thousands of phrasings.
            phrasing, line = _phrasing_lines(item, entry)[position]
            if other[0].id != entry.id:
                other_line = _phrasing_lines(other[1], other[0])[other[2]][1]
                check.error(line, f"phrasing {phrasing!r} is also under entry {other[0].id!r} (line {other_line})")
            else:
                check.error(line, f"phrasing {phrasing!r} is repeated in entry {entry.id!r}", "warning")
        entries.append(entry)
    if not node.value:
        check.error(node, "entries is empty; the FAQ needs at least one entry")
    return entries


def _phrasing_lines(item, entry: Entry) -> list[tuple[str, int]]:
    lines = {}
    for key_node, value_node in item.value:
        if key_node.value == "question":
            lines[entry.question] = value_node.start_mark.line + 1
        elif key_node.value == "alternates" and isinstance(value_node, yaml.SequenceNode):
            for alt in value_node.value:
                lines.setdefault(str(alt.value).strip(), alt.start_mark.line + 1)
    return [(p, lines.get(p, entry.line)) for p in entry.phrasings]


def _entry_fields(check: _Checker, item, categories: dict, today: dt.date) -> dict | None:
    """An entry's fields, checked (Entry's arguments but its normalised phrasings); None when it has errors."""
    fields = check.mapping(item, ENTRY_KEYS, "an entry")
    if not fields:
        return None
    line = item.start_mark.line + 1
    node = lambda key: fields[key][1] if key in fields else None  # noqa: E731
    entry_id = check.text(node("id"), "id") if "id" in fields else None
    label = f"entry {entry_id!r}" if entry_id else "an entry"
    for key in ("id", "category", "question", "answer"):
        if key not in fields:
            check.error(item, f"{label} has no {key}")
    if entry_id and not ID_PATTERN.match(entry_id):
        check.error(node("id"), f"bad id {entry_id!r}: use lower-case letters, digits, '.' and '-'")
    category = check.text(node("category"), f"category of {label}")
    if category and category not in categories:
        declared = ", ".join(sorted(categories)) or "none"
        check.error(node("category"), f"category {category!r} of {label} is not declared (declared: {declared})")
    question = check.text(node("question"), f"question of {label}")
    answer = check.text(node("answer"), f"answer of {label}")
    alternates = [a for a, _ in check.text_list(node("alternates"), f"alternates of {label}")]
    keywords = [k for k, _ in check.text_list(node("keywords"), f"keywords of {label}")]
    source = check.text(node("source"), f"source of {label}")
    effective = check.date(node("effective"), f"effective of {label}")
    review_by = check.date(node("review_by"), f"review_by of {label}")
    if review_by and review_by < today:
        check.error(node("review_by"), f"{label} was due for review on {review_by.isoformat()}", "warning")
    if answer and len(answer) + len(source or "") + 8 > MAX_REPLY_BYTES // 4:  # else it fits, at 4 bytes a character
        size = len((answer + (f"\n（依据：{source}）" if source else "")).encode("utf-8"))  # as replies.answer_text
        if size > MAX_REPLY_BYTES:
            check.error(node("answer"), f"answer of {label} is {size:,} bytes with its source: a chat message carries "
                                        f"{MAX_REPLY_BYTES:,}, and the rest of the reply is cut; shorten it or split the entry",
                        "warning")
    if not (entry_id and category and question and answer):
        return None
    return dict(
        id=entry_id,
        category=category,
        question=question,
        answer=answer,
        alternates=tuple(alternates),
        keywords=tuple(keywords),
        source=source,
        effective=effective,
        review_by=review_by,
        line=line,
    )
