"""Chinese text handling: normalisation, courtesy detection and segmentation."""
from __future__ import annotations

import array
import importlib.util
import math
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import marisa_trie
import opencc

from faq import cache, lexicon
from faq.alarms import raises_alarm

DATA_DIR = Path(__file__).resolve().parent / "data"
USER_DICT = DATA_DIR / "userdict.txt"
SYNONYMS_FILE = DATA_DIR / "synonyms.txt"

CUT_CACHE_SIZE = 200_000  # texts; a 10,000-entry FAQ has ~50,000 phrasings
_t2s = opencc.OpenCC("t2s")
# jieba's own block and letter patterns, so Segmenter.cut gives exactly jieba's words.
_JIEBA_HAN = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)", re.U)
_JIEBA_ENG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")  # jieba's re_eng, [a-zA-Z0-9]
# Found without importing jieba, which imports pkg_resources (0.2 s of a start); only a new cache needs it.
JIEBA_DICT = Path(importlib.util.find_spec("jieba").origin).resolve().parent / "dict.txt"
_USER_DICT_LINE = re.compile("^(.+?)( [0-9]+)?( [a-z]+)?$")  # jieba's re_userdict: word, count, tag
_NOUN_TAGS = frozenset({"n", "nz", "nt", "ns", "nr", "nrt", "nrfg", "vn", "an", "eng", "j", "l", "i"})
# Its words of two characters or more tagged as no kind of noun (jieba_not_nouns() writes it): read in
# 0.02 s at every start, where its dictionary's 349,046 tags took 0.4 s.
NOT_NOUNS_FILE = DATA_DIR / "jieba_not_nouns.txt"
# WeChat stickers and placeholders arrive as text: [强], [抱拳], [图片], [语音].
_STICKER = re.compile(r"\[[^\[\]\s]{1,6}\]")
# WeChat writes a mention as "@name" followed by U+2005, which NFKC turns into a plain space.
_MENTION = re.compile(r"@[^\s@]{1,32}(?:\s+|$)")
_DECIMAL = re.compile(r"(?<=\d)\.(?=\d)")
_SPACES = re.compile(r"\s+")
_GREETING = re.compile("|".join(sorted(lexicon.GREETINGS, key=len, reverse=True)))


# Full-width ASCII and the ideographic space, as NFKC maps them.
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")
_HALF_WIDTH = {chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)} | {"\u3000": " "}


# What Chinese text is full of that NFKC changes: full-width punctuation, and ℃ (°C) in answers.
# Mapped by str.replace: a call per match of _FULL_WIDTH.sub was most of an answer's normalisation.
_COMMON_COMPATIBLE = tuple((ch, unicodedata.normalize("NFKC", ch)) for ch in "，？；（）：℃")


def to_nfkc(text: str) -> str:
    """unicodedata.normalize("NFKC", text), at a fifth to a third of the cost for Chinese text.

    Chinese punctuation is full-width, which sends nearly every answer through full normalisation;
    mapping those characters first (to what NFKC maps them) leaves most texts already normal. A text
    with other compatibility characters (①, ㎡) pays for both, about half as much again.
    """
    if unicodedata.is_normalized("NFKC", text):
        return text
    for compatible, normal in _COMMON_COMPATIBLE:
        if compatible in text:
            text = text.replace(compatible, normal)
    if _FULL_WIDTH.search(text) is not None:
        text = _FULL_WIDTH.sub(lambda m: _HALF_WIDTH[m.group()], text)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def to_simplified(text: str) -> str:
    """Full-width to half-width (NFKC), traditional to simplified, lower case."""
    return _t2s.convert(to_nfkc(text)).lower()


def strip_mentions(text: str, bot_name: str) -> str:
    """Remove "@bot name" anywhere and "@anyone " as WeChat writes mentions."""
    if "@" not in text:  # most messages: no pattern to run (a large FAQ's load normalises 60,000 phrasings)
        return text
    if bot_name:
        text = text.replace("@" + to_simplified(bot_name), " ")
    return _MENTION.sub(" ", text)


_NOT_WORD = re.compile(r"(?:[^\w%]|_)+")


def strip_symbols(text: str) -> str:
    """Replace stickers, emoji and punctuation with spaces; keep letters, digits, decimals and %."""
    if "[" in text:
        text = _STICKER.sub(" ", text)
    if "." in text:
        text = _DECIMAL.sub("点", text)
    return _NOT_WORD.sub(" ", text).strip()


@lru_cache(maxsize=8192)  # decide() and is_courtesy() both clean each message
def clean(text: str, bot_name: str = "") -> str:
    """Normalise a message up to, but not including, greeting removal."""
    return _clean_simplified(to_simplified(text), bot_name)


def _clean_simplified(simplified: str, bot_name: str) -> str:
    """clean(), for a text already through to_simplified()."""
    return strip_symbols(strip_mentions(simplified, bot_name))


def strip_greetings(text: str) -> str:
    """Drop greetings and politeness formulas that carry no question ("您好，请问一下")."""
    return _SPACES.sub(" ", _GREETING.sub(" ", text)).strip()


# 消一次毒 → 消毒一次, 打个卡 → 打卡: the verb whole again, as the FAQ writes it. Only where the verb's
# last character ends a word (the text ends, or a particle follows): 测一下温度, 洗了手机 and 请个假条 stay.
_SEPARATED = re.compile(
    "(" + "|".join(sorted({re.escape(v[0]) for v in lexicon.SEPARABLE_VERBS})) + ")"
    "(了|过|个|一下|一次|一遍|几次|[0-9一二两三四五六七八九十几]+次|[0-9一二两三四五六七八九十几]+天)"
    "(" + "|".join(sorted({re.escape(v[1:]) for v in lexicon.SEPARABLE_VERBS})) + ")"
    "(?=$|\\s|[吗呢吧啊呀了没要的就再才还也都行能可么嘛])"
)
_WHOLE_VERBS = frozenset(lexicon.SEPARABLE_VERBS)


def join_separable_verbs(text: str) -> str:
    """Put a verb that colloquial Chinese split around a measure word back together (消一次毒 → 消毒一次)."""
    def join(m: re.Match) -> str:
        head, measure, tail = m.groups()
        if head + tail not in _WHOLE_VERBS:
            return m.group(0)
        return head + tail + ("" if measure == "个" else measure)

    return _SEPARATED.sub(join, text)


@lru_cache(maxsize=8192)  # the same questions come again and again, through matcher and queue alike
def normalize(text: str, bot_name: str = "") -> str:
    """The matcher's view of a message: cleaned, with greetings removed."""
    return _without_greetings(clean(text, bot_name))


def _without_greetings(cleaned: str) -> str:
    """normalize(), after clean(): greetings dropped (unless nothing else is left), split verbs joined."""
    return join_separable_verbs(strip_greetings(cleaned) or cleaned)


def normalize_many(texts: list[str], bot_name: str = "") -> list[str]:
    """[normalize(text, bot_name) for text in texts], for many texts at once (an FAQ's phrasings).

    One OpenCC call converts them all, joined by newlines, which no phrase of its dictionaries
    holds: 45,000 calls were a third of normalising a large FAQ. A text with a newline of its own
    is converted alone.
    """
    nfkc = [to_nfkc(text) for text in texts]
    joined = [text for text in nfkc if "\n" not in text]
    converted = iter(_t2s.convert("\n".join(joined)).split("\n") if joined else ())
    normalized = []
    for text in nfkc:
        simplified = (next(converted) if "\n" not in text else _t2s.convert(text)).lower()
        normalized.append(_without_greetings(_clean_simplified(simplified, bot_name)))
    return normalized


def is_courtesy(message: str, bot_name: str = "") -> bool:
    """True when a message holds nothing but thanks, acknowledgements or stickers."""
    cleaned = clean(message, bot_name)
    compact = cleaned.replace(" ", "")
    rest = _COURTESY.sub("", compact).strip(lexicon.FILLER_CHARS)
    return not rest or ((is_thanks(cleaned) or is_all_clear(cleaned)) and not raises_alarm(to_simplified(message)))


# "多久都行", "什么时候都可以", "哪天都没关系": a question word that asks nothing.
_ANY_IS_FINE = re.compile("(什么时候|什么时间|多久|多长时间|多长|何时|哪天|几点|几号|哪里|怎么)[^，,。.!！]{0,6}?都(行|可以|没问题|没关系|成|好|中|ok)")


def _asks(compact: str) -> bool:
    compact = _ANY_IS_FINE.sub("", compact)
    return any(marker in compact for marker in lexicon.QUESTION_MARKERS)


def is_thanks(cleaned: str) -> bool:
    """Starts with thanks or an acknowledgement, and neither asks nor reports a need ("好的，马上通知员工")."""
    compact = cleaned.replace(" ", "")
    return (
        compact.startswith(lexicon.THANKS)
        and not _asks(compact)
        and not any(need in compact for need in lexicon.NEEDS)
    )


def is_all_clear(cleaned: str) -> bool:
    """Reports a thing done and, clause by clause, only that all is well ("已上报，员工均无发热").

    Each clause after the report must end in an all-clear or a health word, or be a courtesy: "已上报，
    员工都正常，口罩快用完了" is a report of a need. Whether a health word is denied is for raises_alarm.
    """
    compact = cleaned.replace(" ", "")
    if not compact.startswith(lexicon.REPORTED) or _asks(compact):
        return False
    if any(word in compact for word in lexicon.NEEDS + lexicon.CONTRASTS):
        return False
    clauses = cleaned.split()
    clauses[0] = clauses[0].removeprefix(next((w for w in lexicon.REPORTED if clauses[0].startswith(w)), ""))
    said = [c.rstrip(lexicon.FILLER_CHARS) for c in clauses if _COURTESY.sub("", c).strip(lexicon.FILLER_CHARS)]
    return bool(said) and all(_ALL_CLEAR_END.search(clause) for clause in said)


_ALL_CLEAR_END = re.compile(
    "(?:" + "|".join(sorted(lexicon.ALL_CLEAR + lexicon.ALARMS, key=len, reverse=True)) + ")(?:等?症状|等?情况|现象|等)?$"
)


_UNWEIGHED = object()
_NOT_A_PREFIX = object()

_COURTESY = re.compile("|".join(sorted(lexicon.COURTESIES, key=len, reverse=True)))


class Segmenter:
    """jieba with HMM off and the domain dictionary, shared by FAQ and questions alike.

    The shipped dictionary and synonyms are loaded once per process; each FAQ gets its own copy
    with its synonyms and keywords added (with_words), so one FAQ's words never change how
    another FAQ, or a later version of the same file, is cut.
    """

    def __init__(self, base: "Segmenter | None" = None, synonyms: bool = True) -> None:
        self._cuts: dict[str, tuple[str, ...]] = {}
        # Log probabilities of the pieces cutting has looked up, computed once: the hot loop of a load.
        self._costs: dict[str, object] = {}
        # jieba's dictionary, read-only and shared, and the words added to it here (with their prefixes).
        if base is not None:
            self._trie, self._counts, self._total = base._trie, base._counts, base._total
            self._added, self._not_nouns = dict(base._added), base._not_nouns
            self._in_trie = self._trie.get
            return
        self._trie, self._counts = jieba_dictionary()
        self._in_trie = self._trie.get
        self._total, self._added = self._counts[-1], {}
        self._not_nouns = frozenset(NOT_NOUNS_FILE.read_text(encoding="utf-8").split())
        self._load_user_dict(USER_DICT)
        for concept in shipped_synonyms() if synonyms else ():
            self._add_words(concept)

    def _count(self, piece: str) -> int | None:
        """A word's count in the dictionary, 0 for a prefix of words only, None for neither."""
        count = self._added.get(piece)
        if count is None:
            at = self._in_trie(piece)
            if at is not None:
                return self._counts[at]
        return count

    def _load_user_dict(self, path: Path) -> None:
        """jieba's load_userdict: each line a word, then optionally its count and a tag."""
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            line = line.strip()
            if line:
                word, count, _tag = _USER_DICT_LINE.match(line).groups()
                self._add_word(word, int(count) if count else self._suggest_freq(word, self._cut(word)))

    def with_words(self, words) -> "Segmenter":
        """This segmenter plus words (an FAQ's synonyms and keywords) that are then cut whole."""
        new = [w for w in {normalize_term(word) for word in words} if len(w) > 1 and " " not in w]
        if all(self._count(w) for w in new):
            return self  # nothing to add: share this one (and its cache)
        copy = Segmenter(base=self)
        copy._add_words(new)
        return copy

    def _add_words(self, words) -> None:
        """Add words, each already as normalize_term() gives it."""
        for word in words:
            if len(word) > 1 and " " not in word and not self._count(word):
                self._add_word(word, max(self._suggest_freq(word, self._cut_block(word)), 100))

    def _add_word(self, word: str, freq: int) -> None:
        """jieba's add_word: the word, and each of its prefixes as a possible start of a word.

        Only while a segmenter is being built: one that is shared (and cutting) never changes.
        """
        self._added[word] = freq
        self._total += freq
        for end in range(1, len(word)):
            if self._count(word[:end]) is None:
                self._added[word[:end]] = 0
        self._costs.clear()  # every word's probability changes with the total

    def _suggest_freq(self, word: str, pieces: list[str] | tuple[str, ...]) -> int:
        """jieba's suggest_freq, given the word cut: just enough that it is no longer cut into pieces."""
        probability = 1.0
        for piece in pieces:
            count = self._count(piece)
            probability *= (1 if count is None else count) / self._total
        count = self._count(word)
        return max(int(probability * self._total) + 1, 1 if count is None else count)

    def dictionary(self) -> dict[str, int]:
        """Every word and prefix with its count, as jieba's Tokenizer.FREQ would hold them (for tests: slow)."""
        return {**{word: self._counts[at] for word, at in self._trie.items()}, **self._added}

    def cut(self, text: str) -> tuple[str, ...]:
        """Words of a normalised text, spaces dropped: jieba's cut(HMM=False), computed faster."""
        words = self._cuts.get(text)
        if words is None:
            if len(self._cuts) >= CUT_CACHE_SIZE:  # questions keep bringing new texts: stay bounded
                self._cuts.clear()
            words = self._cuts[text] = self._cut(text)
        return words

    def _cut(self, text: str) -> tuple[str, ...]:
        """cut(), computed: jieba's cut(HMM=False) in one pass of its dictionary."""
        words: list[str] = []
        for block in _JIEBA_HAN.split(text):
            if not block:
                continue
            if _JIEBA_HAN.match(block):
                words.extend(self._cut_block(block))
            else:
                words.extend(ch for ch in block if not ch.isspace())
        return tuple(words)

    def _cut_block(self, block: str) -> list[str]:
        """jieba's DAG and best route over its dictionary in one pass (its own code builds dicts of lists)."""
        cost_get = self._costs.get
        size = len(block)
        score = [0.0] * (size + 1)
        end = [0] * size
        for start in range(size - 1, -1, -1):
            best, best_end = None, start
            stop = start
            piece = block[start]
            cost = cost_get(piece, _UNWEIGHED)
            if cost is _UNWEIGHED:
                cost = self._weigh(piece)
            while cost is not _NOT_A_PREFIX:
                if cost is not None:
                    candidate = cost + score[stop + 1]
                    # jieba takes max((score, end)): ties go to the longer word
                    if best is None or candidate >= best:
                        best, best_end = candidate, stop
                stop += 1
                if stop >= size:
                    break
                piece = block[start : stop + 1]
                cost = cost_get(piece, _UNWEIGHED)
                if cost is _UNWEIGHED:
                    cost = self._weigh(piece)
            if best is None:
                best = math.log(self._count(block[start]) or 1) - math.log(self._total) + score[start + 1]
            score[start], end[start] = best, best_end
        words: list[str] = []
        ascii_run = ""
        position = 0
        while position < size:
            stop = end[position] + 1
            if stop - position == 1 and block[position] in _JIEBA_ENG_CHARS:
                ascii_run += block[position]  # jieba joins runs of single letters and digits
                position = stop
                continue
            if ascii_run:
                words.append(ascii_run)
                ascii_run = ""
            words.append(block[position:stop])
            position = stop
        if ascii_run:
            words.append(ascii_run)
        return words

    def _weigh(self, piece: str) -> object:
        """A piece's log probability as a word; None for a prefix of words only, _NOT_A_PREFIX for neither."""
        if len(self._costs) > 200_000:  # questions keep bringing new pieces: stay bounded (~25 MB)
            self._costs.clear()
        count = self._added.get(piece)  # _count(), inline: once per new piece of every text cut
        if count is None and (at := self._in_trie(piece)) is not None:
            count = self._counts[at]
        cost = _NOT_A_PREFIX if count is None else (math.log(count) - math.log(self._total) if count else None)
        self._costs[piece] = cost
        return cost

    def is_noun_like(self, word: str) -> bool:
        """A naming word (noun, verbal noun, or a term jieba does not know): what a question is about."""
        return len(word) >= 2 and word not in self._not_nouns

    def frequency(self, word: str) -> int:
        """The word's count in jieba's general dictionary (0 when unknown)."""
        count = self._added.get(word)  # _count(), inline: typo repair asks for many
        if count is None:
            at = self._in_trie(word)
            return 0 if at is None else self._counts[at]
        return count

    @property
    def total(self) -> int:
        return self._total


@lru_cache(maxsize=1)
def jieba_dictionary() -> tuple[marisa_trie.Trie, array.array]:
    """jieba's dictionary, as its Tokenizer reads it: a trie of its words and their prefixes, and their
    counts by the trie's ids (0 for a prefix only), the total count last.

    Read from a cache in this user's own directory under the temporary one, and written there the
    first time: turning jieba's cache back into a dict of 500,000 words took most of a start (1.2 s
    here); the trie is mapped from the file and its counts read as one array, in milliseconds.
    """
    folder = cache.private_dir()
    if folder is None:
        return _build_jieba_dictionary()
    key = cache.key_of(JIEBA_DICT)
    base = folder / f"jieba-{key}"
    trie_path, counts_path = base.with_suffix(".trie"), base.with_suffix(".counts")
    trie, counts = marisa_trie.Trie(), array.array("q")
    try:
        trie.mmap(str(trie_path))
        counts.frombytes(counts_path.read_bytes())
        if len(counts) == len(trie) + 1:
            cache.used(trie_path, counts_path)
            return trie, counts
    except (OSError, RuntimeError, ValueError):  # none yet, or a broken one: write it again
        pass
    return _write_jieba_dictionary(trie_path, counts_path)


def _build_jieba_dictionary() -> tuple[marisa_trie.Trie, array.array]:
    """jieba_dictionary(), built from jieba's dict.txt (a few seconds)."""
    import jieba  # noqa: PLC0415  (imported only here: see JIEBA_DICT)

    with open(JIEBA_DICT, "rb") as handle:
        freq, total = jieba.Tokenizer.gen_pfdict(handle)
    trie = marisa_trie.Trie(freq)
    counts = array.array("q", bytes(8 * (len(trie) + 1)))
    for word, count in freq.items():
        counts[trie[word]] = count
    counts[-1] = total
    return trie, counts


def _write_jieba_dictionary(trie_path: Path, counts_path: Path) -> tuple[marisa_trie.Trie, array.array]:
    trie, counts = _build_jieba_dictionary()
    cache.write_atomically(trie_path, trie.save)
    cache.write_atomically(counts_path, lambda name: Path(name).write_bytes(counts.tobytes()))
    cache.remove_stale(trie_path, "jieba-*")
    return trie, counts


def jieba_not_nouns() -> list[str]:
    """The words of jieba's dictionary, two characters or more, whose part of speech is no kind of noun (sorted)."""
    tags = {}
    with open(JIEBA_DICT, encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 3:
                tags[parts[0]] = parts[2]  # a word listed twice has the later line's tag
    return sorted(word for word, tag in tags.items() if len(word) >= 2 and tag not in _NOUN_TAGS)


def normalize_term(word: str) -> str:
    """A dictionary term (synonym, keyword) in the form matching sees."""
    return strip_symbols(to_simplified(word)).replace(" ", "")


@lru_cache(maxsize=1)
def shipped_synonyms() -> tuple[tuple[str, ...], ...]:
    """The shipped synonym groups (faq/data/synonyms.txt), each word as normalize_term() gives it:
    read once per process, for the segmenter and for every FAQ's Analyzer."""
    return tuple(tuple(map(normalize_term, group)) for group in load_synonym_file(SYNONYMS_FILE))


def load_synonym_file(path: Path) -> list[list[str]]:
    """One concept per line, its words separated by spaces; '#' starts a comment."""
    concepts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) > 1:
            concepts.append(words)
    return concepts


_segmenter: Segmenter | None = None
_segmenter_lock = threading.Lock()


def segmenter() -> Segmenter:
    """The process-wide Segmenter (jieba's dictionary costs ~0.5 s to load, so load it once)."""
    global _segmenter
    with _segmenter_lock:
        if _segmenter is None:
            _segmenter = Segmenter()
        return _segmenter
