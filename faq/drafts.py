"""Drafts from cadres' answers (new entries, new alternates), and approving one into the FAQ file.

The drafts file is YAML the bot writes (`drafts: [...]`). Approving edits the admins' FAQ file
with ruamel.yaml's round trip, so its comments, order and layout stay as they were; the result
is checked with faq.loader before it replaces the file (temp file + os.replace), so the live
reloader never sees half a file or a broken one.
"""
from __future__ import annotations

import codecs
import datetime as dt
import fcntl
import io
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import yaml

from faq.loader import ID_PATTERN, check_faq
from faq.text import normalize


class DraftError(Exception):
    """A draft that cannot be approved as it stands; the message says what to do."""


def drafts_path(config) -> Path:
    """[faq] drafts_path, or faq-drafts.yaml beside the database."""
    return config.faq.drafts_path or config.storage.path.parent / "faq-drafts.yaml"


@contextmanager
def _locked(path: Path):
    """One writer at a time (the CLI and `faq approve` may run together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path: Path) -> dict:
    if not path.exists():
        return {"next_id": 1, "drafts": []}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise DraftError(f"{where}: the drafts file is not valid YAML; fix or remove it") from None
    if not isinstance(data, dict) or not isinstance(data.get("drafts", []), list):
        raise DraftError(f"{path}: not a drafts file (expected next_id and a list of drafts)")
    data.setdefault("next_id", 1 + max((d["id"] for d in data.get("drafts", [])), default=0))
    data.setdefault("drafts", [])
    return data


def _write(path: Path, data: dict) -> None:
    header = "# Drafts from cadres' answers: `run.py faq drafts` lists them, `run.py faq approve ID` adds one to the FAQ.\n"
    _atomic_write(path, header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000))


def _unique(texts: list[str]) -> list[str]:
    seen, result = set(), []
    for text in texts:
        text = " ".join(str(text).split())
        key = normalize(text)
        if text and key and key not in seen:
            seen.add(key)
            result.append(text)
    return result


def _add(path: Path, draft: dict) -> int:
    with _locked(path):
        data = _read(path)
        draft_id = data["next_id"]
        data["next_id"] = draft_id + 1
        data["drafts"].append({"id": draft_id, **draft})
        _write(path, data)
    return draft_id


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def add_entry(path: Path, *, ticket: int, question: str, alternates: list[str], answer: str,
              category: str | None, by: str) -> int:
    """A draft new entry from an answered ticket; returns the draft's number."""
    question = " ".join(question.split())
    alternates = [a for a in _unique([question, *alternates]) if normalize(a) != normalize(question)]
    entry = {"id": f"{category or 'ticket'}.ticket-{ticket}", "category": category, "question": question,
             "alternates": alternates, "answer": answer.strip()}
    return _add(path, {"kind": "entry", "ticket": ticket, "by": by, "at": _now(), "entry": entry})


def add_alternates(path: Path, *, entry_id: str, alternates: list[str], ticket: int, by: str) -> int:
    """Draft alternates for an existing entry (askers the bot did not understand); returns the draft's number."""
    return _add(path, {"kind": "alternates", "ticket": ticket, "by": by, "at": _now(),
                       "entry_id": entry_id, "alternates": _unique(alternates)})


def list_drafts(path: Path) -> list[dict]:
    return _read(path)["drafts"]


# --- Approving: round-trip edit of the FAQ file -----------------------------------------------

def _yaml():
    from ruamel.yaml import YAML

    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def approve(drafts_file: Path, faq_path: Path, draft_id: int, *, entry_id: str | None = None,
            category: str | None = None) -> str:
    """Move draft `draft_id` into the FAQ file; returns a one-line description. Raises DraftError."""
    with _locked(drafts_file):
        data = _read(drafts_file)
        draft = next((d for d in data["drafts"] if d["id"] == draft_id), None)
        if draft is None:
            raise DraftError(f"no draft #{draft_id} in {drafts_file}")
        rt = _yaml()
        faq_path = Path(faq_path).resolve()  # through a link (to the copy under version control, say)
        try:
            raw = faq_path.read_bytes()
            doc = rt.load(raw.decode("utf-8-sig").replace("\r\n", "\n"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DraftError(f"{faq_path}: cannot read the FAQ ({exc}); run faq check") from None
        except Exception as exc:  # ruamel's errors have no common base worth naming here
            raise DraftError(_unreadable(faq_path, exc)) from None
        if not isinstance(doc, dict):
            raise DraftError(f"{faq_path}: not an FAQ file; run faq check")
        known = {normalize(p) for e in doc.get("entries") or [] for p in [e.get("question", ""), *(e.get("alternates") or [])]}
        if draft["kind"] == "entry":
            done = _approve_entry(doc, draft, known, entry_id, category)
        else:
            done = _approve_alternates(doc, draft, known)
        out = io.StringIO()
        rt.dump(doc, out)
        _write_checked(faq_path, _as_written(out.getvalue(), raw))
        data["drafts"] = [d for d in data["drafts"] if d["id"] != draft_id]
        _write(drafts_file, data)
    return done


def _unreadable(faq_path: Path, exc: Exception) -> str:
    """What to tell an admin whose FAQ file ruamel.yaml cannot read (the bot's reader may well)."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None) or type(exc).__name__
    where = f"{faq_path}:{mark.line + 1}" if mark else str(faq_path)
    return (f"{where}: cannot edit the FAQ file here ({problem}): approve edits it with ruamel.yaml, which is "
            "stricter than the bot's reader (a tab after a colon, say); write this line plainly, then approve again")


def _as_written(text: str, original: bytes) -> str:
    """The edited file with the original's byte order mark and line endings (Windows editors write both)."""
    if original.count(b"\r\n") * 2 > original.count(b"\n"):  # mostly CRLF: a few stray ones make no rewrite of all
        text = text.replace("\n", "\r\n")
    return ("\ufeff" + text) if original.startswith(codecs.BOM_UTF8) else text


def _approve_entry(doc, draft: dict, known: set[str], entry_id: str | None, category: str | None) -> str:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import LiteralScalarString

    entry = draft["entry"]
    categories = {c.get("id") for c in doc.get("categories") or []}
    category = category or entry.get("category")
    if not category or category not in categories:
        raise DraftError(f"draft #{draft['id']} has no category declared in the FAQ"
                         f" ({category or 'none'}); pass --category one of: {', '.join(sorted(map(str, categories)))}")
    entry_id = entry_id or entry["id"]
    if entry.get("category") != category and entry_id == entry["id"]:
        entry_id = re.sub(r"^[^.]*\.", f"{category}.", entry_id)
    if not ID_PATTERN.match(entry_id):
        raise DraftError(f"bad id {entry_id!r}: use lower-case letters, digits, '.' and '-' (pass --id)")
    if any(e.get("id") == entry_id for e in doc["entries"]):
        raise DraftError(f"the FAQ already has an entry {entry_id!r}; pass --id")
    if normalize(entry["question"]) in known:
        raise DraftError(f"the question {entry['question']!r} is already in the FAQ; answer with --faq instead")
    new = CommentedMap()
    new["id"] = entry_id
    new["category"] = category
    new["question"] = entry["question"]
    alternates = [a for a in entry.get("alternates") or [] if normalize(a) not in known]
    if alternates:
        seq = CommentedSeq(alternates)
        new["alternates"] = seq
    answer = entry["answer"].strip()
    new["answer"] = LiteralScalarString(answer + "\n") if "\n" in answer or len(answer) > 60 else answer
    entries = doc["entries"]
    entries.append(new)
    _blank_line_before(entries, len(entries) - 1)
    return f"added entry {entry_id} ({len(alternates)} alternates) from ticket #{draft['ticket']}"


def _approve_alternates(doc, draft: dict, known: set[str]) -> str:
    from ruamel.yaml.comments import CommentedSeq

    entry = next((e for e in doc.get("entries") or [] if e.get("id") == draft["entry_id"]), None)
    if entry is None:
        raise DraftError(f"the FAQ has no entry {draft['entry_id']!r} any more")
    new = [a for a in draft["alternates"] if normalize(a) not in known]
    if not new:
        raise DraftError(f"every phrasing of draft #{draft['id']} is already in the FAQ")
    alternates = entry.get("alternates")
    if alternates is None:
        seq = CommentedSeq(new)
        keys = list(entry.keys())
        entry.insert(keys.index("question") + 1 if "question" in keys else len(keys), "alternates", seq)
    else:
        alternates.extend(new)
    return f"added {len(new)} alternate(s) to {draft['entry_id']} from ticket #{draft['ticket']}"


def _blank_line_before(seq, index: int) -> None:
    """Separate an appended entry from the one before it with a blank line, as the admins' file does."""
    if index == 0:
        return
    try:
        prev = seq[index - 1]
        tokens = prev.ca.items.get(list(prev.keys())[-1])
        trailing = tokens[2].value if tokens and len(tokens) > 2 and tokens[2] is not None else ""
    except (AttributeError, IndexError):
        return
    if not trailing.endswith("\n\n"):
        seq.yaml_set_comment_before_after_key(index, before="\n", indent=2)


def _write_checked(faq_path: Path, text: str) -> None:
    """Write the FAQ only if the loader accepts the new text; atomically."""
    fd, tmp = tempfile.mkstemp(dir=faq_path.parent, prefix=f".{faq_path.name}.", suffix=".check.yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        faq, problems = check_faq(tmp)
        if faq is None:
            errors = "\n".join(str(p).replace(tmp, str(faq_path)) for p in problems if p.severity == "error")
            raise DraftError(f"the FAQ would not load with this draft; nothing was changed:\n{errors}")
    finally:
        os.unlink(tmp)
    _atomic_write(faq_path, text)
