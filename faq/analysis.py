"""From a normalised text to weighted concepts: segmentation, synonyms, intents and typo repair."""
from __future__ import annotations

import math
import re
from typing import Mapping, NamedTuple

from faq import lexicon
from faq.pinyin import pinyin_key
from faq.text import Segmenter, normalize_term, shipped_synonyms

INTENT_WEIGHT = 0.35
FUNCTION_CHAR_FREQUENCY = 150_000  # jieba counts: 着 188,584, 的 318,825; 里 77,054, 读 5,660
SINGLE_CHAR_FACTOR = 0.5
MAX_TYPO_WINDOW = 4  # characters: a longer run that is no word is a name or a phrase, not one typo
# "多久消毒一次" asks how often, not how long: 多久 ... 一次 split by the words in between.
_HOW_OFTEN = re.compile("(多久|多长时间|隔多长|隔多久)[^ ]{0,8}一[次回遍趟](?!性)")  # not across a comma, nor 一次性


class Analysis(NamedTuple):
    """A text as the matcher sees it (a NamedTuple: tens of thousands are built per FAQ load)."""

    text: str  # normalised, typos repaired
    concepts: tuple[str, ...]  # canonical concepts in order, stop words dropped
    weights: dict[str, float]  # informativeness of each concept, 0..1 (general language)
    surfaces: dict[str, str]  # the word the text used for each concept
    content: str = ""  # the words that carry meaning (not question words), joined in order
    repaired: tuple[str, ...] = ()  # words put in place of homophone typos
    words: tuple[str, ...] = ()  # every word as segmented (and split), stop words too: faq/embedding.py reads them


class Analyzer:
    """Turns normalised text into concepts; built once per FAQ, with its synonyms and vocabulary."""

    def __init__(self, segmenter: Segmenter, faq_synonyms=(), extra_words=()):
        groups = [*shipped_synonyms(), *(tuple(map(normalize_term, g)) for g in faq_synonyms)]
        self.canonical: dict[str, str] = {}
        for group in groups:
            terms = [t for t in group if t]
            if not terms:
                continue
            # A word already in a group joins that group's concept, so FAQ synonyms extend shipped ones.
            head = next((self.canonical[t] for t in terms if t in self.canonical), terms[0])
            for term in terms:
                self.canonical.setdefault(term, head)
        faq_words = [w for group in faq_synonyms for w in group] + list(extra_words)
        self.segmenter = segmenter.with_words(faq_words)
        self._total = self.segmenter.total
        self._typo_vocab: dict[str, str] = {}
        # The characters FAQ words of two to four characters hold in place (one per position for two,
        # pairs of positions for more): a window that shares too few with every word can be no typo of
        # one (_close), and needs no pinyin.
        self._typo_marks: dict[int, list[tuple[int, int, set[str]]]] = {
            size: [(i, j, set()) for i, j in places] for size, places in _MARK_PLACES.items()}
        self._used_chars: set[str] = set()  # one-character words the FAQ uses: typed on purpose (戴, not 带)
        self._word_cache: dict[str, tuple[str | None, float]] = {}
        self._window_cache: dict[str, str | None] = {}  # _typo_for, by window

    def learn_vocabulary(self, words) -> None:
        """Words the FAQ uses; a question's homophone typo of one of them is repaired (of two homophones, the first)."""
        for word in words:
            # A typo is a window of Chinese characters; 84消毒液 would take 消毒液's pinyin with its digits dropped.
            if not _is_hanzi(word) or word in lexicon.STOPWORDS:
                continue
            if len(word) >= 2:
                self._typo_vocab.setdefault(pinyin_key(word), word)
                if len(word) <= MAX_TYPO_WINDOW:
                    for i, j, seen in self._typo_marks[len(word)]:
                        seen.add(_mark_at(word, i, j))
            else:
                self._used_chars.add(word)
        self._window_cache.clear()  # after the vocabulary has grown: no verdict from a half-learned one stays

    def learned(self) -> tuple:
        """What learn_vocabulary() has learned, for relearn() in another process."""
        return self._typo_vocab, self._typo_marks, self._used_chars

    def relearn(self, learned: tuple) -> None:
        """Take what another Analyzer of the same FAQ learned (learned()), instead of learning it again."""
        self._typo_vocab, self._typo_marks, self._used_chars = learned
        self._window_cache.clear()

    def analyze(self, normalized: str, repair: bool = True, refuse: frozenset[str] = frozenset(),
                split: Mapping[str, tuple[str, ...]] | None = None) -> Analysis:
        """Concepts of a normalised text, in order, each once; `refuse` lists typo repairs not to make,
        `split` words to read as their parts (贴息贷款 as 贴息, 贷款)."""
        text = self.repair_typos(normalized, refuse) if repair else normalized
        concepts: list[str] = []
        weights: dict[str, float] = {}
        surfaces: dict[str, str] = {}
        content: list[str] = []
        words = self.segmenter.cut(text)
        if split:
            words = tuple(part for word in words for part in split.get(word, (word,)))
        known = self._word_cache
        for word in words:
            found = known.get(word)
            concept, weight = found if found is not None else self._concept(word)
            if concept is None:
                continue
            if concept not in weights:
                concepts.append(concept)
                weights[concept] = weight
                surfaces[concept] = word
                if weight != INTENT_WEIGHT or not concept.startswith("intent:"):
                    content.append(word)
            else:
                weights[concept] = max(weights[concept], weight)
        if "intent:duration" in weights and _HOW_OFTEN.search(text):
            at = concepts.index("intent:duration")
            weight, surface = weights.pop("intent:duration"), surfaces.pop("intent:duration")
            if "intent:frequency" in weights:
                del concepts[at]
            else:
                concepts[at] = "intent:frequency"
                weights["intent:frequency"], surfaces["intent:frequency"] = weight, surface
        repaired = tuple(w for w in self.segmenter.cut(text) if w not in normalized) if text != normalized else ()
        return Analysis(text, tuple(concepts), weights, surfaces, "".join(content), repaired, words)

    def _concept(self, word: str) -> tuple[str | None, float]:
        cached = self._word_cache.get(word)
        if cached is None:
            if len(self._word_cache) > 200_000:  # questions keep bringing new words: stay bounded
                self._word_cache.clear()
            cached = self._word_cache[word] = self._classify(word)
        return cached

    def _classify(self, word: str) -> tuple[str | None, float]:
        if word in lexicon.INTENTS:
            return lexicon.INTENTS[word], INTENT_WEIGHT
        concept = self.canonical.get(word)
        if concept is None and word in lexicon.STOPWORDS:
            return None, 0.0
        weight = self.informativeness(word) * lexicon.DOMAIN_COMMON.get(concept or word, 1.0)
        return concept or word, weight

    def informativeness(self, word: str) -> float:
        """0..1 from the word's rarity in general Chinese (jieba's dictionary counts)."""
        if word.isdigit():
            return 0.3
        surprisal = math.log(self._total / (self.segmenter.frequency(word) + 1))
        weight = min(1.0, max(0.1, (surprisal - 6.5) / 7.0))
        if len(word) == 1:
            weight *= SINGLE_CHAR_FACTOR
        return weight

    def _plausible_typo(self, window: str, word: str) -> bool:
        """Typos swap content characters; a very common function character (着, 了, 的) is meant, and so
        is a character the FAQ itself uses as a word ("口罩能戴多久" is not 能带)."""
        return all(
            a == b or (self.segmenter.frequency(a) < FUNCTION_CHAR_FREQUENCY and a not in self._used_chars)
            for a, b in zip(window, word)
        )

    def _binds_outside(self, text: str, start: int, window: str, word: str) -> bool:
        """True when a character to be replaced forms a word with its neighbour outside the window.

        In "消毒几次" the window 消毒几 sounds like 消毒剂, but 几 belongs to 几次: no typo there.
        """
        end = start + len(window)
        if window[-1] != word[-1] and end < len(text) and self.segmenter.frequency(text[end - 1 : end + 1]) > 0:
            return True
        return window[0] != word[0] and start > 0 and self.segmenter.frequency(text[start - 1 : start + 1]) > 0

    def repair_typos(self, text: str, refuse: frozenset[str] = frozenset()) -> str:
        """Replace homophone typos of FAQ words (消读→消毒, 侧体温→测体温)."""
        if not self._typo_vocab:
            return text
        out = []
        position = 0
        for run in _HANZI_RUNS.split(text):
            out.append(self._repair_run(text, run, position, refuse) if run and _is_hanzi(run[0]) else run)
            position += len(run)  # where the next run starts in the text as written
        return "".join(out)

    def _repair_run(self, text: str, run: str, offset: int, refuse: frozenset[str]) -> str:
        """repair_typos within a run of Chinese characters that starts at `offset` in `text` (a typo
        is a window of Chinese characters, so none crosses a run's end)."""
        out = []
        i, n = 0, len(run)
        cache = self._window_cache
        while i < n:
            chunk, used = run[i], 1
            for size in range(min(MAX_TYPO_WINDOW, n - i), 1, -1):
                window = run[i : i + size]
                word = cache.get(window, _UNSEEN_WINDOW)
                if word is _UNSEEN_WINDOW:
                    if len(cache) > 200_000:  # questions keep bringing new windows: stay bounded
                        cache.clear()
                    word = cache[window] = self._typo_for(window)
                if word is None:
                    continue
                if word == window:
                    chunk, used = window, size  # a real word: keep it whole
                    break
                if word not in refuse and not self._binds_outside(text, offset + i, window, word):
                    chunk, used = word, size
                    break
            out.append(chunk)
            i += used
        return "".join(out)

    def _shares_a_mark(self, window: str) -> bool:
        """Whether some FAQ word of the window's length has a mark (_marks) of the window's."""
        for i, j, seen in self._typo_marks[len(window)]:
            if (window[i] if i == j else window[i] + window[j]) in seen:  # _mark_at, inline: once per new window
                return True
        return False

    def _typo_for(self, window: str) -> str | None:
        """The window itself if it is a word; else the FAQ word it may be a homophone typo of; else None.

        Depends on the window alone (where it stands is _binds_outside's), so it is kept per window.
        """
        if window in self.canonical or self.segmenter.frequency(window) > 0:
            return window
        if not self._shares_a_mark(window):
            return None
        word = self._typo_vocab.get(pinyin_key(window))
        if word and word != window and _close(window, word) and self._plausible_typo(window, word):
            return word
        return None


_HANZI_RUNS = re.compile("([\u4e00-\u9fff]+)")
_UNSEEN_WINDOW = object()


def _is_hanzi(text: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in text)


# Where a word of two, three or four characters holds its marks: one character for two, pairs for more.
_MARK_PLACES = {2: ((0, 0), (1, 1)), 3: ((0, 1), (0, 2), (1, 2)), 4: ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))}


def _marks(word: str) -> tuple[tuple, ...]:
    """What a word and a typo of it (_close) must share, one at least: for two characters one in place,
    for three or four two in place. Each is (where, the characters there)."""
    return tuple(((i, j), _mark_at(word, i, j)) for i, j in _MARK_PLACES[len(word)])


def _mark_at(word: str, i: int, j: int) -> str:
    """The characters a word holds at a mark's places (one place when i == j)."""
    return word[i] if i == j else word[i] + word[j]


def _close(window: str, word: str) -> bool:
    """A typo keeps at least half of the word's characters."""
    same = sum(a == b for a, b in zip(window, word))
    return same >= 1 and same * 2 >= len(word)
