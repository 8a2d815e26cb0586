"""Chinese text handling: normalisation, courtesy detection, segmentation and pinyin."""
from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import jieba
import opencc
from pypinyin import Style, lazy_pinyin

from faq import lexicon

DATA_DIR = Path(__file__).resolve().parent / "data"
USER_DICT = DATA_DIR / "userdict.txt"
SYNONYMS_FILE = DATA_DIR / "synonyms.txt"

_t2s = opencc.OpenCC("t2s")
# jieba's own block and letter patterns, so Segmenter.cut gives exactly jieba's words.
_JIEBA_HAN = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)", re.U)
_JIEBA_ENG = re.compile("[a-zA-Z0-9]", re.U)
_JIEBA_DICT = Path(jieba.__file__).resolve().parent / jieba.DEFAULT_DICT_NAME
_NOUN_TAGS = frozenset({"n", "nz", "nt", "ns", "nr", "nrt", "nrfg", "vn", "an", "eng", "j", "l", "i"})
# WeChat stickers and placeholders arrive as text: [强], [抱拳], [图片], [语音].
_STICKER = re.compile(r"\[[^\[\]\s]{1,6}\]")
# WeChat writes a mention as "@name" followed by U+2005, which NFKC turns into a plain space.
_MENTION = re.compile(r"@[^\s@]{1,32}(?:\s+|$)")
_DECIMAL = re.compile(r"(?<=\d)\.(?=\d)")
_SPACES = re.compile(r"\s+")
_GREETING = re.compile("|".join(sorted(lexicon.GREETINGS, key=len, reverse=True)))


def to_simplified(text: str) -> str:
    """Full-width to half-width (NFKC), traditional to simplified, lower case."""
    return _t2s.convert(unicodedata.normalize("NFKC", text)).lower()


def strip_mentions(text: str, bot_name: str) -> str:
    """Remove "@bot name" anywhere and "@anyone " as WeChat writes mentions."""
    if bot_name:
        text = text.replace("@" + to_simplified(bot_name), " ")
    return _MENTION.sub(" ", text)


_NOT_WORD = re.compile(r"(?:[^\w%]|_)+")


def strip_symbols(text: str) -> str:
    """Replace stickers, emoji and punctuation with spaces; keep letters, digits, decimals and %."""
    text = _DECIMAL.sub("点", _STICKER.sub(" ", text))
    return _NOT_WORD.sub(" ", text).strip()


def clean(text: str, bot_name: str = "") -> str:
    """Normalise a message up to, but not including, greeting removal."""
    return strip_symbols(strip_mentions(to_simplified(text), bot_name))


def strip_greetings(text: str) -> str:
    """Drop greetings and politeness formulas that carry no question ("您好，请问一下")."""
    return _SPACES.sub(" ", _GREETING.sub(" ", text)).strip()


def normalize(text: str, bot_name: str = "") -> str:
    """The matcher's view of a message: cleaned, with greetings removed."""
    cleaned = clean(text, bot_name)
    stripped = strip_greetings(cleaned)
    return stripped or cleaned


def is_courtesy(cleaned: str) -> bool:
    """True when a cleaned message holds nothing but thanks, acknowledgements or stickers."""
    compact = cleaned.replace(" ", "")
    rest = _COURTESY.sub("", compact).strip(lexicon.FILLER_CHARS)
    # "谢谢张指导员", "感谢小李": thanks to someone by name asks nothing.
    return not rest or (len(rest) <= 2 and compact.startswith(lexicon.THANKS) and not _asks(compact))


def _asks(compact: str) -> bool:
    return any(marker in compact for marker in lexicon.QUESTION_MARKERS)


def is_thanks(cleaned: str) -> bool:
    """Starts with thanks and asks nothing ("感谢领导这么晚还帮我们跑手续"); may still report a problem."""
    compact = cleaned.replace(" ", "")
    return compact.startswith(lexicon.THANKS) and not _asks(compact)


_COURTESY = re.compile("|".join(sorted(lexicon.COURTESIES, key=len, reverse=True)))


class Segmenter:
    """jieba with HMM off and the domain dictionary, shared by FAQ and questions alike."""

    def __init__(self) -> None:
        self._tokenizer = jieba.Tokenizer()
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._pos: dict[str, str] | None = None
        logging.getLogger("jieba").setLevel(logging.WARNING)
        jieba.setLogLevel(logging.WARNING)
        self._tokenizer.initialize()
        with open(USER_DICT, "rb") as handle:  # jieba leaves a file it opened itself unclosed
            self._tokenizer.load_userdict(handle)
        self._tags()  # loaded now, not during someone's first question
        for concept in load_synonym_file(SYNONYMS_FILE):
            self.add_words(concept)

    def add_words(self, words) -> None:
        """Teach the segmenter words (FAQ synonyms and keywords) so both sides cut them whole."""
        with self._lock:
            for word in words:
                word = normalize_term(word)
                if len(word) > 1 and " " not in word and word not in self._known:
                    self._known.add(word)
                    if self._tokenizer.FREQ.get(word, 0) == 0:
                        self._tokenizer.add_word(word, freq=max(self._tokenizer.suggest_freq(word), 100))
        self.cut.cache_clear()

    @lru_cache(maxsize=200_000)
    def cut(self, text: str) -> tuple[str, ...]:
        """Words of a normalised text, spaces dropped: jieba's cut(HMM=False), computed faster."""
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
        freq_get = self._tokenizer.FREQ.get
        log = math.log
        logtotal = log(self._tokenizer.total)
        size = len(block)
        score = [0.0] * (size + 1)
        end = [0] * size
        for start in range(size - 1, -1, -1):
            best, best_end = None, start
            stop = start
            count = freq_get(block[start])
            while count is not None:
                if count:
                    candidate = log(count) - logtotal + score[stop + 1]
                    # jieba takes max((score, end)): ties go to the longer word
                    if best is None or candidate >= best:
                        best, best_end = candidate, stop
                stop += 1
                if stop >= size:
                    break
                count = freq_get(block[start : stop + 1])
            if best is None:
                best = log(freq_get(block[start]) or 1) - logtotal + score[start + 1]
            score[start], end[start] = best, best_end
        words: list[str] = []
        ascii_run = ""
        position = 0
        while position < size:
            word = block[position : end[position] + 1]
            position = end[position] + 1
            if len(word) == 1 and _JIEBA_ENG.match(word):
                ascii_run += word  # jieba joins runs of single letters and digits
                continue
            if ascii_run:
                words.append(ascii_run)
                ascii_run = ""
            words.append(word)
        if ascii_run:
            words.append(ascii_run)
        return words

    def is_noun_like(self, word: str) -> bool:
        """A naming word (noun, verbal noun, or a term jieba does not know): what a question is about."""
        if len(word) < 2:
            return False
        tag = self._tags().get(word)
        return tag is None or tag in _NOUN_TAGS

    def _tags(self) -> dict[str, str]:
        if self._pos is None:
            tags = {}
            with open(_JIEBA_DICT, encoding="utf-8") as handle:
                for line in handle:
                    parts = line.split()
                    if len(parts) == 3:
                        tags[parts[0]] = parts[2]
            self._pos = tags
        return self._pos

    def frequency(self, word: str) -> int:
        """The word's count in jieba's general dictionary (0 when unknown)."""
        return self._tokenizer.FREQ.get(word, 0)

    @property
    def total(self) -> int:
        return self._tokenizer.total


def normalize_term(word: str) -> str:
    """A dictionary term (synonym, keyword) in the form matching sees."""
    return strip_symbols(to_simplified(word)).replace(" ", "")


def load_synonym_file(path: Path) -> list[list[str]]:
    """One concept per line, its words separated by spaces; '#' starts a comment."""
    concepts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) > 1:
            concepts.append(words)
    return concepts


@lru_cache(maxsize=100_000)
def pinyin_key(word: str) -> str:
    """Toneless pinyin of a word, syllables joined by spaces (homophone typos share it)."""
    return " ".join(lazy_pinyin(word, style=Style.NORMAL, errors="ignore"))


_segmenter: Segmenter | None = None
_segmenter_lock = threading.Lock()


def segmenter() -> Segmenter:
    """The process-wide Segmenter (jieba's dictionary costs ~0.5 s to load, so load it once)."""
    global _segmenter
    with _segmenter_lock:
        if _segmenter is None:
            _segmenter = Segmenter()
        return _segmenter
