"""Match a question against the FAQ: candidates from an inverted index, reranked on several kinds of evidence.

Each candidate entry gets a feature vector (word coverage, phrase overlap, character bigrams, fuzzy
similarity, keywords, …, and how out of scope the question's wording looks: faq/prior.py). Two
models fitted on labelled questions (bench/train_ranker.py, weights in faq/data/ranker.json) act on it: the ranker, a conditional logit, gives each candidate its
probability of being the answer beside a "none of them" option (a softmax); the verifier, boosted
trees over how the first candidate stands against the rest, gives the confidence 0..1 that the
first candidate is right. The bands in config act on that confidence.
"""
from __future__ import annotations

import json
import math
import operator
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import accumulate, chain
from pathlib import Path
from typing import NamedTuple

import numpy as np
from rapidfuzz import fuzz, process

from bot.config import BotConfig
from bot.model import Candidate, Decision
from faq import lexicon, parallel
from faq.analysis import Analysis, Analyzer
from faq.embedding import Embedding, load_embedding
from faq.bulk import bulk_build
from faq.loader import Entry, Faq
from faq.parallel import beside
from faq.prior import QuestionPrior, load_prior
from faq.replies import render_reply
from faq.text import clean, is_courtesy, normalize, segmenter, strip_greetings, to_simplified
from faq.trees import BoostedTrees

RANKER_FILE = Path(__file__).resolve().parent / "data" / "ranker.json"
ANSWER_ONLY_CREDIT = 0.4  # a question word found only in an entry's answer counts for this much
PART_WORD_CREDIT = 0.7  # a question word inside a longer word of the entry (公积金 in 住房公积金)
FIRST_STAGE_SIZE = 10  # candidates reranked in a large FAQ (the first stage finds the right one ~94% of the time)
SCORE_ALL_UP_TO = 64  # a small FAQ has every entry reranked
FEW_WORDS = 4  # a concept with more words than this is searched for with one pattern ...
PATTERN_AFTER = 8  # ... once this many questions have asked about it
FEATURES = (
    "coverage",  # share of the question's weight the entry covers (answer text counts partly)
    "vocab_coverage",  # the same, from its question, alternates and keywords only
    "missing",  # weight of the heaviest question word the entry does not mention at all
    "focus",  # covered weight, scaled by how many of the entry's phrasings use each word
    "phrasing_coverage",  # share of the closest phrasing's weight found in the question
    "overlap",  # weighted Dice of question and closest phrasing
    "fuzzy",  # rapidfuzz ratio of the concept strings
    "char_coverage",  # share of the question's character bigrams (IDF) found in the entry
    "char_overlap",  # weighted Dice of character bigrams with the closest phrasing
    "keyword",  # 1 when the question names one of the entry's keywords
    "distinct",  # IDF-weighted share of covered words that few entries have
    "answer_coverage",  # share of the question's weight whose words (or synonyms) the answer uses
    "unknown",  # heaviest question word that no entry's phrasings use: the FAQ may not cover this
    "unknown_share",  # share of the question's weight in such words
    "missing_noun",  # weight of the heaviest naming word (noun, term) the entry does not mention at all
    "unknown_noun",  # the same for naming words no entry uses
    "char1_coverage",  # share of the question's characters (IDF) in the entry: 证 in 通行证, 车 in 货车
    "likelihood",  # query likelihood of the entry's words (Dirichlet-smoothed), against the whole FAQ
    "intent_clash",  # 1 when question and entry both ask a kind of answer (how often, how long, who ...) and differ
    "thin",  # 1 / the entry's phrasings: a lone question is thin evidence of how people ask
    "answer_thin",  # answer_coverage x thin: for such an entry, its answer says more of what it covers
    "aspect_unmet",  # what the question asks about (money, wages, a login ...) that the entry never mentions
    "term_missing",  # weight of a named fee, tax, certificate, fund ... (物业费, 公积金) the entry never mentions
    "kind_unmet",  # kinds of answer the question wants (a time, a number, whom to ask) that the entry's answer never gives
    "exclusive",  # covered weight, each word's weight shared among the candidates that have it
    "coverage_gap",  # coverage minus the best other candidate's
    "question_prior",  # the question's log-odds of being out of scope from its wording alone (faq/prior.py)
    "learned_similarity",  # closeness of question and entry in n-gram vectors fitted on labelled questions (faq/embedding.py)
    "similarity_gap",  # learned_similarity minus the best other candidate's
    "length",  # log(1 + the question's characters): a long message asks more than its best entry answers
)
DIRICHLET_MU = 8.0
CONCEPT_SEPARATOR = "\x1f"
INTENT_CONCEPTS = frozenset(lexicon.INTENTS.values())
MIN_CONTENT_WEIGHT = 0.3  # below this a question says too little to match (one plain noun weighs ~0.5-1)
SUGGEST_MIN_SHARE = 0.1  # a suggestion's ranker probability, at least this share of the best one's
REPAIR_ANSWERS_CHECKED = 300  # answers searched for the rest of a question whose typo repair is in doubt
MAX_SPLIT_LENGTH = 8  # a longer unknown word is a name or a run of digits, not a compound of FAQ words
_HAN_WORD = re.compile("[\u4e00-\u9fff]+")
_KIND_PATTERNS = {kind: re.compile(pattern) for kind, pattern in lexicon.ANSWER_KINDS.items()}
_AMOUNT_ASKED = re.compile(lexicon.AMOUNT_ASKED)
SUGGEST_RUNNER_UP = 0.15  # below the answer band, suggest only if the second entry is this probable


class Phrasing(NamedTuple):
    """One way an entry is asked, as the index holds it."""

    entry: int
    canon: str  # its concepts joined, for order-aware fuzzy comparison
    total: float  # sum of its concept weights


@dataclass(frozen=True)
class Scored:
    """An entry's confidence for one question, with the evidence behind it."""

    entry: Entry
    score: float
    features: tuple[float, ...]


@dataclass(frozen=True)
class _Flat:
    """What _compare_text reads, entry after entry: a question is compared with all its candidates'
    phrasings in a few numpy calls.

    Each entry has tokens, rows of (id, weight, slot): its phrasings' concepts, then their bigrams,
    then its bigrams and its characters, each once. Ids are Matcher.concept_ids, gram_ids and
    char_ids, one numbering; a bigram or character weighs its IDF. A token's slot is where its weight
    is summed, within the entry's 2n + 2 slots for n phrasings: one per phrasing for concepts, one
    per phrasing for bigrams, one for all the entry's bigrams and one for its characters. Each slot
    has a row of (total, factor, per_gram, per_char): its share of the question is
    factor x sum / (total + per_gram x the question's bigram IDF + per_char x its character IDF).
    """

    tokens: np.ndarray  # (tokens, 3) floats: id, weight, slot within the entry
    token_start: list[int]  # each entry's first token, with one more for the end
    slots: np.ndarray  # (slots, 4) floats: total, factor, per_gram, per_char
    slot_start: list[int]  # each entry's first slot, with one more for the end
    marks: np.ndarray  # (entries, 4) ints: where the entry's four kinds of slot begin (0, n, 2n, 2n + 1)
    entry_canons: list[tuple[str, ...]]  # each entry's phrasings' Phrasing.canon

    @classmethod
    def build(cls, matcher: "Matcher", concepts: list[str], weights: list[float], concept_counts: list[int],
              grams: "_EntryGrams") -> "_Flat":
        """From what _build collects: each phrasing's concepts and their weights, and the bigrams."""
        entries = len(matcher.entry_phrasings)
        sizes = np.fromiter(map(len, matcher.entry_phrasings), np.int64, entries)  # n per entry
        owner = np.repeat(np.arange(entries), sizes)  # each phrasing's entry
        local = np.arange(len(owner)) - np.repeat(sizes.cumsum() - sizes, sizes)  # its place in its entry
        # Each id's IDF (a concept's weight is its phrasing's, so concepts have none here).
        idf = np.fromiter(chain(matcher.gram_idf.values(), matcher.char_idf.values()), np.float64)
        idf = np.concatenate((np.zeros(len(matcher.concept_ids)), idf))  # by id
        gram_ids = grams.ids + len(matcher.concept_ids)
        entry_gram_ids = grams.entry_ids + len(matcher.concept_ids)
        char_ids = grams.entry_char_ids + len(matcher.concept_ids) + len(matcher.gram_ids)
        entry_gram_counts, char_counts = grams.entry_counts, grams.entry_char_counts
        phrasing_of_gram = np.repeat(np.arange(len(owner)), grams.counts)
        first = sizes.cumsum() - sizes  # each entry's first phrasing
        tokens, token_start = _by_entry(
            [np.column_stack((_ids(matcher.concept_ids, concepts), weights, np.repeat(local, concept_counts))),
             np.column_stack((gram_ids, idf[gram_ids], (sizes[owner] + local)[phrasing_of_gram])),
             np.column_stack((entry_gram_ids, idf[entry_gram_ids], np.repeat(2 * sizes, entry_gram_counts))),
             np.column_stack((char_ids, idf[char_ids], np.repeat(2 * sizes + 1, char_counts)))],
            [np.add.reduceat(np.asarray(concept_counts, dtype=np.int64), first), np.add.reduceat(grams.counts, first), entry_gram_counts, char_counts])
        gram_totals = np.bincount(phrasing_of_gram, idf[gram_ids], minlength=len(owner))
        totals = np.fromiter((p.total for p in matcher.phrasings), np.float64, len(matcher.phrasings))
        ones = np.ones(entries, dtype=np.int64)
        slots, slot_start = _by_entry(
            [_rows(len(owner), 1.0, 0.0, 0.0, totals), _rows(len(owner), 2.0, 1.0, 0.0, gram_totals),
             _rows(entries, 1.0, 1.0, 0.0), _rows(entries, 1.0, 0.0, 1.0)],
            [sizes, sizes, ones, ones])
        marks = np.column_stack((np.zeros(entries, np.int64), sizes, 2 * sizes, 2 * sizes + 1))
        return cls(tokens, token_start.tolist(), slots, slot_start.tolist(), marks,
                   [tuple(matcher.phrasings[p].canon for p in own) for own in matcher.entry_phrasings])


def _by_entry(blocks: list[np.ndarray], counts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Blocks of rows grouped by entry (`counts`: each entry's rows in each), merged so that each entry's
    rows of all blocks come together, block after block; and where each entry's rows begin, with one more."""
    starts = _starts(np.sum(counts, axis=0))
    merged = np.empty((int(starts[-1]), blocks[0].shape[1]))
    before = starts[:-1].copy()  # where the entry's rows of the next block go
    for block, count in zip(blocks, counts):
        merged[np.arange(len(block)) + np.repeat(before - (count.cumsum() - count), count)] = block
        before += count
    return merged, starts


def _rows(count: int, factor: float, per_gram: float, per_char: float, totals: np.ndarray | None = None) -> np.ndarray:
    """`count` slot rows of _Flat.slots, their totals 0 unless given."""
    rows = np.empty((count, 4))
    rows[:] = (0.0, factor, per_gram, per_char)
    if totals is not None:
        rows[:, 0] = totals
    return rows


class _EntryGrams:
    """Every phrasing's distinct bigrams, and each entry's distinct bigrams and characters, in the
    order they are first used (numbered by code point), from the phrasings' content in numpy:
    ordered_bigrams() and dicts per phrasing cost a sixth of a large FAQ's load.

    A bigram is coded as one integer, its first character's code point above its second's plus one
    (0 for the one-character "bigram" of a one-character text), so numbering them is np.unique's.
    """

    def __init__(self, contents: list[str], entry_sizes: list[int]):
        lengths = np.fromiter(map(len, contents), np.int64, len(contents))
        codes = np.frombuffer("".join(contents).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        # ordered_bigrams(), for all at once: L - 1 bigrams of a text of L >= 2 characters, one of one.
        per_text = np.where(lengths >= 2, lengths - 1, lengths)
        at = np.repeat(lengths.cumsum() - lengths - (per_text.cumsum() - per_text), per_text) + np.arange(per_text.sum())
        pair = np.repeat(lengths >= 2, per_text)
        second = np.zeros(len(at), dtype=np.int64)
        second[pair] = codes[at[pair] + 1] + 1
        coded, numbered = np.unique((codes[at] << 22) | second, return_inverse=True)
        phrasing = np.repeat(np.arange(len(contents)), per_text)
        self.ids, self.counts = _first_in_entry(numbered.ravel(), phrasing, len(coded), len(contents))  # per phrasing
        self.grams = [chr(c >> 22) + (chr(s - 1) if s else "") for c, s in zip(coded.tolist(), (coded & 0x3FFFFF).tolist())]  # by id
        entries = len(entry_sizes)
        owner = np.repeat(np.repeat(np.arange(entries), entry_sizes), self.counts)
        self.entry_ids, self.entry_counts = _first_in_entry(self.ids, owner, len(self.grams), entries)
        self.gram_entries = np.bincount(self.entry_ids, minlength=len(self.grams))  # in how many entries each is
        # A bigram's characters, "".join(an entry's bigrams) as they come: its first, then its second if any.
        firsts, seconds = coded >> 22, (coded & 0x3FFFFF) - 1
        chars = np.unique(np.concatenate((firsts, seconds[seconds >= 0])))
        self.chars = [chr(c) for c in chars.tolist()]  # by id
        first = np.searchsorted(chars, firsts)
        second = np.where(seconds >= 0, np.searchsorted(chars, seconds), -1)
        pairs = np.column_stack((first[self.entry_ids], second[self.entry_ids])).ravel()
        pair_owner = np.repeat(np.arange(entries), 2 * self.entry_counts)
        held = pairs >= 0
        self.entry_char_ids, self.entry_char_counts = _first_in_entry(pairs[held], pair_owner[held], len(self.chars), entries)
        self.char_entries = np.bincount(self.entry_char_ids, minlength=len(self.chars))


def _first_in_entry(ids: np.ndarray, owner: np.ndarray, distinct: int, entries: int) -> tuple[np.ndarray, np.ndarray]:
    """Each entry's ids (given in entry order, `owner` their entries), each once, in the order they come;
    and how many each entry has."""
    _, first = np.unique(owner * distinct + ids, return_index=True)
    first.sort()
    return ids[first], np.bincount(owner[first], minlength=entries)


def _ids(ids: dict[str, int], items: list[str]) -> np.ndarray:
    return np.fromiter(map(ids.__getitem__, items), np.int64, len(items))


def _starts(counts: list[int]) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))


VERIFIER_FEATURES = ("p1", "p2", "logit1", "logit2", "logit_gap", "log_p1") + tuple(f"top.{f}" for f in FEATURES)


@dataclass(frozen=True)
class Models:
    """The two fitted models: the ranker orders candidates, the verifier says how sure to be of the first."""

    rank_coef: np.ndarray
    rank_bias: float
    verifier: BoostedTrees


def load_models(path: Path = RANKER_FILE) -> Models:
    """Both models from faq/data/ranker.json: the ranker's weights and the verifier's trees (bench/train_ranker.py)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rank, verify = data["ranker"], data["verifier"]
    return Models(
        np.asarray([rank["weights"][n] for n in FEATURES], dtype=np.float64),
        float(rank["bias"]),
        BoostedTrees.from_json(verify, VERIFIER_FEATURES),
    )


@lru_cache(maxsize=1)
def shipped_prior() -> QuestionPrior:
    """faq/data/prior.json, read once per process (every FAQ reload builds a Matcher)."""
    with bulk_build():  # 61,000 n-grams' entries: collections meanwhile were a third or more of the read
        return load_prior()


@lru_cache(maxsize=1)
def shipped_embedding() -> Embedding:
    """faq/data/embedding.npz, read once per process."""
    return load_embedding()


def verifier_features(matrix: np.ndarray, logits: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """What the verifier sees: how the best candidate stands against the rest, and its own evidence."""
    order = (-probs).argsort(kind="stable")
    top = order[0]
    p2 = float(probs[order[1]]) if len(order) > 1 else 0.0
    logit2 = float(logits[order[1]]) if len(order) > 1 else -10.0
    head = [float(probs[top]), p2, float(logits[top]), logit2, float(logits[top]) - logit2, math.log(float(probs[top]) + 1e-9)]
    return np.asarray(head + list(matrix[top]), dtype=np.float64)


def softmax_with_none(logits: np.ndarray) -> np.ndarray:
    """P(entry is the answer) for each candidate, beside a "none of them" option of logit 0."""
    top = max(float(logits.max()), 0.0)
    exp = np.exp(logits - top)
    return exp / (math.exp(-top) + exp.sum())


def best_of(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores (k >= 1), best first, ties to the lower index.

    np.argpartition finds the k-th best score; only the scores at or above it are sorted, a few dozen
    as a rule, a few thousand when that many tie.
    """
    if len(scores) > k:
        kth = scores[(-scores).argpartition(k - 1)[:k]].min()
        chosen = (scores >= kth).nonzero()[0]
    else:
        chosen = np.arange(len(scores))
    return chosen[(-scores[chosen]).argsort(kind="stable")[:k]]


def ordered_bigrams(text: str) -> list[str]:
    """Character bigrams of a compact string (the string itself when it has one character), in order, each once."""
    if len(text) < 2:
        return [text] if text else []
    return list(dict.fromkeys(map(operator.add, text, text[1:])))


def _holds_any(words: tuple[str, ...], pattern: bool = True):
    """A test of whether a text holds one of the words; None when there are none.

    Substring tests for a few words: compiling a pattern cost more than a question with words the
    matcher had not seen spent searching. Many words (a concept with many synonyms) get one pattern,
    unless `pattern` is false.
    """
    if not words:
        return None
    if len(words) == 1:
        word = words[0]
        return lambda text: word in text
    # Two to four words spelled out: a generator for any() cost more than the searches themselves.
    if len(words) == 2:
        a, b = words
        return lambda text: a in text or b in text
    if len(words) == 3:
        a, b, c = words
        return lambda text: a in text or b in text or c in text
    if len(words) == 4:
        a, b, c, d = words
        return lambda text: a in text or b in text or c in text or d in text
    if len(words) <= FEW_WORDS or not pattern:
        return lambda text: any(w in text for w in words)
    search = re.compile("|".join(map(re.escape, words))).search
    return lambda text: search(text) is not None


class _Part(NamedTuple):
    """What Matcher._gather finds in a run of entries, the index's raw material: each half of an FAQ's
    entries; a large FAQ's second half is gathered in a child process and sent back pickled (so:
    strings, numbers, lists, dicts and frozensets).

    Lists of one item per phrasing (canons to concept_counts; the concepts and weights of all the
    phrasings, one after the other) or per entry (sizes to words); then what holds for the whole run.
    """

    canons: list[str]
    totals: list[float]
    contents: list[str]  # the words that carry meaning, joined: for the bigrams (_EntryGrams)
    concepts: list[str]
    weights: list[float]
    concept_counts: list[int]
    sizes: list[int]
    share: list[dict[str, float]]
    counts: list[dict[str, int]]
    length: list[int]
    keywords: list[frozenset[str]]
    intents: list[frozenset[str]]
    texts: list[str]
    words: list[list[str]]  # every phrasing's and keyword's words, for the entry's vector
    listed: dict[str, int]
    postings: dict[str, list[int]]
    collection: dict[str, int]
    surfaces: list[str]  # the words its phrasings use for their concepts, each once, in order

    @classmethod
    def empty(cls) -> "_Part":
        return cls(**{name: {} if name in ("listed", "postings", "collection") else [] for name in cls._fields})

    @classmethod
    def joined(cls, parts: list["_Part"]) -> "_Part":
        """Runs of entries, one after the other, as one."""
        whole = parts[0]
        items = cls._fields.index("listed")  # the lists of one item per phrasing or per entry come first
        for part in parts[1:]:
            for mine, theirs in zip(whole[:items], part[:items]):
                mine.extend(theirs)
            for key, index in part.listed.items():
                whole.listed[key] = -1 if key in whole.listed else index  # two runs: two entries
            for concept, indices in part.postings.items():
                whole.postings.setdefault(concept, []).extend(indices)
            for concept, n in part.collection.items():
                whole.collection[concept] = whole.collection.get(concept, 0) + n
            whole.surfaces[:] = dict.fromkeys(chain(whole.surfaces, part.surfaces))
        return whole


# What _build() makes and built() keeps as it is (phrasings and the analyser's vocabulary are kept
# apart). Named one by one: what is shared with other indexes (faq, analyzer, models …) or filled as
# questions come (_start_asking) must never be kept, and a test holds that every attribute is one of them.
BUILT = ("_answers", "entry_phrasings", "entry_share", "entry_counts", "entry_length", "entry_keywords",
         "entry_intents", "listed", "entry_texts", "postings", "entry_sets", "distinct", "background",
         "_unseen", "gram_idf", "_unknown_gram_idf", "char_idf", "concept_ids", "gram_ids", "char_ids",
         "_flat", "surfaces", "entry_vectors", "_word_vectors")


class Matcher:
    """An FAQ index; decide() turns a question into a Decision."""

    def __init__(self, faq: Faq, settings: BotConfig | None = None, models: Models | None = None,
                 prior: QuestionPrior | None = None, embedding: Embedding | None = None):
        self._share(faq, settings, models, prior, embedding)
        with bulk_build():
            self._build()
        self._start_asking()

    @classmethod
    def rebuilt(cls, faq: Faq, built: dict, settings: BotConfig | None = None) -> "Matcher":
        """The Matcher of `faq` from what built() gave for the same FAQ file, code and shipped data."""
        self = cls.__new__(cls)
        self._share(faq, settings)
        built = dict(built)
        self.analyzer.relearn(built.pop("vocabulary"))
        owners, canons, totals = built.pop("phrasings")
        vars(self).update(built)
        self.phrasings = list(map(Phrasing, owners, canons, totals))
        self.embedding.remember(*self._word_vectors)
        self._start_asking()
        return self

    def built(self) -> dict:
        """What the build made, to be kept between runs (faq/kept.py): none of what is shared with other
        indexes or filled as questions come, so rebuilt() gives a Matcher that decides as this one does."""
        built = {name: getattr(self, name) for name in BUILT}
        built["_answers"] = list(self._answers)  # answer() fills it as entries are asked for
        # Columns: three lists read back in a tenth of the time of 60,000 named tuples.
        built["phrasings"] = tuple(map(list, zip(*self.phrasings))) or ([], [], [])
        built["vocabulary"] = self.analyzer.learned()
        return built

    def _share(self, faq: Faq, settings: BotConfig | None, models: Models | None = None,
               prior: QuestionPrior | None = None, embedding: Embedding | None = None) -> None:
        self.faq = faq
        self.settings = settings or BotConfig()
        keywords = [k for e in faq.entries for k in e.keywords]
        self.analyzer = Analyzer(segmenter(), faq.synonyms, keywords)
        self.entries = faq.entries
        self.models = models or load_models()
        self.prior = prior or shipped_prior()
        self.embedding = embedding or shipped_embedding()

    def _start_asking(self) -> None:
        """What questions fill as they come, empty."""
        self._scratch = threading.local()
        self._finders: dict[tuple[str, str], tuple] = {}
        self._aspects: dict[tuple[int, str], bool] = {}  # (entry, aspect) -> mentioned; filled as asked
        self._kinds: dict[tuple[int, str], bool] = {}  # (entry, kind of answer) -> its answer gives it; filled as asked

    # ---- building -------------------------------------------------------------------------
    def _build(self) -> None:
        half = len(self.entries) // 2
        forking = sum(len(entry.normalized) for entry in self.entries) >= parallel.MIN_ITEMS and parallel.can_fork()
        # A large FAQ's second half is gathered in a child process meanwhile, on a second core: cutting
        # and analysing its phrasings is most of a load.
        second = beside(partial(self._gather, (half, len(self.entries))), worth_it=forking)
        first = self._gather((0, half))
        # Answers are long: searched as text for the few candidates, never segmented, and simplified the
        # first time an entry is one; a large FAQ's all at once, while the child finishes and sends its half.
        self._answers: list[str | None] = [to_simplified(entry.answer) for entry in self.entries] if forking else [None] * len(self.entries)
        part = _Part.joined([first, second()])
        owners = [index for index, count in enumerate(part.sizes) for _ in range(count)]
        self.phrasings: list[Phrasing] = list(map(Phrasing, owners, part.canons, part.totals))
        self.entry_phrasings: list[range] = [range(stop - count, stop) for stop, count in zip(accumulate(part.sizes), part.sizes)]
        self.entry_share: list[dict[str, float]] = part.share
        self.entry_counts: list[dict[str, int]] = part.counts
        self.entry_length: list[int] = part.length
        self.entry_keywords: list[frozenset[str]] = part.keywords
        self.entry_intents: list[frozenset[str]] = part.intents
        self.listed: dict[str, int] = part.listed  # a phrasing's concepts -> its entry (-1: shared by two)
        self.entry_texts: list[str] = part.texts
        postings, collection, entry_words, contents = part.postings, part.collection, part.words, part.contents
        concepts_flat, weights_flat, concept_counts = part.concepts, part.weights, part.concept_counts
        # A large FAQ's entries' vectors are summed in a child process meanwhile, on the second core.
        embedded = beside(partial(self.embedding.embed_many_apart, entry_words), worth_it=forking)
        grams = _EntryGrams(contents, [len(own) for own in self.entry_phrasings])
        size = max(len(self.entries), 1)
        self.postings = {c: np.asarray(ids, dtype=np.int32) for c, ids in postings.items()}
        self.entry_sets = {c: frozenset(ids) for c, ids in postings.items()}
        # How much a concept tells entries apart: 1 for a concept no entry has, near 0 for one all share.
        top = math.log((size + 1) / 0.5)
        self.distinct = {c: math.log((size + 1) / (len(ids) + 0.5)) / top for c, ids in postings.items()}
        # Background model of the query-likelihood feature: how often the FAQ as a whole uses a concept.
        size_c = sum(collection.values()) + len(collection) + 1
        self.background = {c: (n + 0.5) / size_c for c, n in collection.items()}
        self._unseen = 0.5 / size_c
        self.gram_idf = dict(zip(grams.grams, [math.log((size + 1) / (n + 0.5)) for n in grams.gram_entries.tolist()]))
        self._unknown_gram_idf = math.log((size + 1) / 0.5)
        self.char_idf = dict(zip(grams.chars, [math.log((size + 1) / (n + 0.5)) for n in grams.char_entries.tolist()]))
        # One numbering for _Flat's tokens: concepts, then bigrams, then characters.
        self.concept_ids = {c: i for i, c in enumerate(postings)}
        self.gram_ids = {g: i for i, g in enumerate(grams.grams, len(self.concept_ids))}
        self.char_ids = {c: i for i, c in enumerate(grams.chars, len(self.concept_ids) + len(self.gram_ids))}
        self._flat = _Flat.build(self, concepts_flat, weights_flat, concept_counts, grams)
        # In the FAQ's order, not a set's: which of two homophones a typo becomes must not vary by process.
        self.analyzer.learn_vocabulary(part.surfaces)
        # Synonyms of concepts the FAQ uses: a repair to any other word would be refused (_repair_fits),
        # and the shipped list has thousands of words whose pinyin is not worth computing for nothing.
        self.analyzer.learn_vocabulary(w for w, c in self.analyzer.canonical.items() if c in postings)
        self.surfaces: dict[str, tuple[str, ...]] = {}
        for word, concept in self.analyzer.canonical.items():
            if len(word) > 1:
                self.surfaces.setdefault(concept, ())
                self.surfaces[concept] += (word,)
        self.entry_vectors, *self._word_vectors = embedded()
        self.embedding.remember(*self._word_vectors)  # as embed_many does: questions share these words

    def _gather(self, run: tuple[int, int]) -> "_Part":
        """What the index is built from, for the entries of a run (start, stop) of them."""
        analyze = self.analyzer.analyze
        part = _Part.empty()
        listed, postings, collection = part.listed, part.postings, part.collection
        canons, totals, contents, concepts_flat, weights_flat, concept_counts = part[:6]
        keyword_analyses: dict[str, Analysis] = {}  # entries share keywords: each is analysed once
        surfaces: list[str] = []
        for index in range(*run):
            entry = self.entries[index]
            counts: dict[str, int] = {}
            words: list[str] = []
            for text in entry.normalized:
                analysis = analyze(text, repair=False)
                concepts, weights = analysis.concepts, analysis.weights
                canons.append("".join(concepts))
                totals.append(sum(weights.values()) or 1.0)
                contents.append(analysis.content)
                concepts_flat += concepts
                weights_flat += map(weights.__getitem__, concepts)
                concept_counts.append(len(concepts))
                for concept in concepts:
                    counts[concept] = counts.get(concept, 0) + 1
                words += analysis.words
                surfaces += analysis.surfaces.values()
                if len(concepts) - len(INTENT_CONCEPTS.intersection(concepts)) >= 2:
                    key = CONCEPT_SEPARATOR.join(concepts)
                    # The same concepts under two entries name neither of them.
                    listed[key] = index if listed.get(key, index) == index else -1
            phrasings = len(entry.normalized)
            share = {c: n / phrasings for c, n in counts.items()}
            keywords = set()
            keyword_texts = []
            for keyword in entry.keywords:
                keyword_analysis = keyword_analyses.get(keyword)
                if keyword_analysis is None:
                    keyword_analysis = keyword_analyses[keyword] = analyze(normalize(keyword), repair=False)
                concepts = keyword_analysis.concepts
                keyword_texts.append(keyword_analysis.text)  # normalised
                words += keyword_analysis.words
                keywords.update(concepts)
                for concept in concepts:
                    share[concept] = 1.0
                    counts[concept] = counts.get(concept, 0) + 2  # an admin's keyword counts double
            part.sizes.append(phrasings)
            part.words.append(words)
            part.share.append(share)
            part.counts.append(counts)
            part.length.append(sum(counts.values()))
            for concept, n in counts.items():
                collection[concept] = collection.get(concept, 0) + n
            part.keywords.append(frozenset(keywords))
            part.intents.append(INTENT_CONCEPTS.intersection(share))
            for concept in share:
                postings.setdefault(concept, []).append(index)
            part.texts.append(" ".join((*entry.normalized, *keyword_texts)))
        part.surfaces.extend(dict.fromkeys(surfaces))
        return part

    # ---- matching -------------------------------------------------------------------------
    def weight(self, concept: str, analysis: Analysis) -> float:
        """A question concept's weight: general informativeness, scaled by how well it separates entries."""
        distinct = self.distinct.get(concept, 1.0)
        return analysis.weights[concept] * (0.35 + 0.65 * distinct)

    def finder(self, concept: str, surface: str):
        """Whether a text holds one of a concept's words (its synonyms, and the question's own word);
        None when there is no word to look for."""
        key = (concept, surface)
        found = self._finders.get(key)
        if found is None:
            if len(self._finders) > 50_000:  # questions keep bringing new words: stay bounded
                self._finders.clear()
            words = tuple(dict.fromkeys(self.surfaces.get(concept, ()) + ((surface,) if len(surface) > 1 else ())))
            found = self._finders[key] = [_holds_any(words, pattern=False), words, 0]
        found[2] += 1
        if found[2] == PATTERN_AFTER and len(found[1]) > FEW_WORDS:
            # A pattern costs as much to compile (~0.5 ms) as a few questions' searches without it.
            found[0] = _holds_any(found[1])
        return found[0]

    def _mentions(self, index: int, aspect: str) -> bool:
        """Whether entry `index` (its phrasings, keywords or answer) names an aspect (lexicon.ASPECTS)."""
        key = (index, aspect)
        found = self._aspects.get(key)
        if found is None:
            # Checked only for the aspects questions bring: at load time it would cost 0.3 s per 10,000 entries.
            found = self._aspects[key] = names_aspect(self.entry_texts[index], aspect) or names_aspect(self.answer(index), aspect)
        return found

    def _gives(self, index: int, kind: str) -> bool:
        """Whether entry `index`'s answer states the kind of thing asked (lexicon.ANSWER_KINDS), memoised."""
        key = (index, kind)
        found = self._kinds.get(key)
        if found is None:
            found = self._kinds[key] = _KIND_PATTERNS[kind].search(self.answer(index)) is not None
        return found

    def analyze(self, text: str) -> Analysis:
        """The question as the matcher sees it."""
        normalized = normalize(text, self.settings.name)
        analysis = self.analyzer.analyze(normalized)
        refuse = frozenset(w for w in analysis.repaired if not self._repair_fits(w, analysis))
        if refuse:
            analysis = self.analyzer.analyze(normalized, refuse=refuse)
        return self._split_unknown(analysis)

    def _split_unknown(self, analysis: Analysis) -> Analysis:
        """Read a word no entry uses as the FAQ's words it is made of: 贴息贷款 as 贴息 贷款."""
        split = {}
        for concept in analysis.concepts:
            surface = analysis.surfaces[concept]
            if concept in self.distinct or not 3 <= len(surface) <= MAX_SPLIT_LENGTH or not _HAN_WORD.fullmatch(surface):
                continue
            parts = self._known_parts(surface)
            if parts:
                split[surface] = parts
        if not split:
            return analysis
        return self.analyzer.analyze(analysis.text, repair=False, split=split)

    def _known_parts(self, word: str) -> tuple[str, ...] | None:
        """The fewest FAQ words (two characters or more) that make up `word` exactly, if any."""
        canonical = self.analyzer.canonical
        best: list[tuple[str, ...] | None] = [None] * (len(word) + 1)
        best[0] = ()
        for end in range(2, len(word) + 1):
            for start in range(0, end - 1):
                piece = word[start:end]
                if best[start] is not None and canonical.get(piece, piece) in self.distinct:
                    if best[end] is None or len(best[start]) + 1 < len(best[end]):
                        best[end] = best[start] + (piece,)
        found = best[len(word)]
        return found if found and len(found) > 1 else None

    def _torn(self, ranked: list[Candidate]) -> bool:
        """Worth a "您是不是想问": two entries both plausible.

        A question that half-matches a single entry is more often one the FAQ does not cover at all:
        that goes to a cadre rather than into a list of guesses.
        """
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        return runner_up >= SUGGEST_RUNNER_UP

    def _names_only_a_topic(self, analysis: Analysis) -> bool:
        """One word that several entries share ("口罩", "消毒") names a topic, not a question: suggest."""
        content = [c for c in analysis.concepts if not c.startswith("intent:")]
        if len(content) != 1:
            return False
        # Entries whose own topic the word is: a keyword, or in at least a third of their phrasings.
        owners = [i for i in self.entry_sets.get(content[0], ()) if self.entry_share[i][content[0]] >= 0.3]
        return len(owners) > 1

    def _repair_fits(self, word: str, analysis: Analysis) -> bool:
        """A typo repair stands if some entry uses the repaired word with another word of the question.

        "一个人收多少钱" reads as 人手 by sound, but no entry about 人手 mentions 多少钱: refused.
        For a naming word the other word may be in the entry's answer ("宿社上下铺咋睡": the dormitory
        entry's answer speaks of 上下铺).
        """
        concept = self.analyzer.canonical.get(word, word)
        entries = self.entry_sets.get(concept)
        if entries is None:
            return False
        others = [c for c in analysis.concepts if c != concept and not c.startswith("intent:") and analysis.weights[c] >= 0.3]
        if not others or any(not entries.isdisjoint(self.entry_sets.get(c, ())) for c in others):
            return True
        if not self.analyzer.segmenter.is_noun_like(word):
            return False  # answers are long: a verb like 要钱 finds company there too easily (要签 is no typo)
        finders = [f for f in (self.finder(c, analysis.surfaces[c]) for c in others) if f is not None]
        # Enough entries to find a fit, few enough that a common word in a huge FAQ stays cheap.
        return any(find(self.answer(i)) for i in sorted(entries)[:REPAIR_ANSWERS_CHECKED] for find in finders)

    def rank(self, text: str, limit: int = 5, analysis: Analysis | None = None) -> list[Scored]:
        """The best entries for a question, most probable first (the ranker's probabilities)."""
        scored = self._score(analysis or self.analyze(text), self.prior.logit(normalize(text, self.settings.name)))
        if scored is None:
            return []
        candidates, matrix, _, probs = scored
        order = np.argsort(-probs, kind="stable")[:limit]
        return [Scored(self.entries[candidates[k]], round(float(probs[k]), 4), tuple(matrix[k])) for k in order]

    def _score(self, analysis: Analysis, oos_prior: float):
        """Candidates, their features, logits and probabilities; None when nothing matches."""
        if not analysis.concepts:
            return None
        query = _Query(analysis, self, oos_prior)
        candidates = self._candidates(query.weights)
        if not candidates:
            return None
        matrix = self.feature_matrix(candidates, query)
        logits = matrix @ self.models.rank_coef + self.models.rank_bias
        return candidates, matrix, logits, softmax_with_none(logits)

    def confidence(self, matrix: np.ndarray, logits: np.ndarray, probs: np.ndarray) -> float:
        """The verifier's probability that the best candidate is the right answer."""
        return self.models.verifier.probability(verifier_features(matrix, logits, probs))

    def feature_matrix(self, candidates: list[int], query: "_Query") -> np.ndarray:
        """Features of each candidate, including how it compares with the other candidates."""
        compared = self._compare_text(candidates, query)
        shared: list[list[str]] = [[] for _ in candidates]
        rows = [self.features(i, query, compared[k], shared[k]) for k, i in enumerate(candidates)]
        # How many candidates share each question word: a word only one entry has decides between them.
        weights = query.weights
        holders = Counter(chain.from_iterable(shared))
        coverage = [row[0] for row in rows]
        best, runner_up = (sorted(coverage, reverse=True) + [0.0, 0.0])[:2]
        similarity = (self.entry_vectors[candidates] @ query.vector).tolist()
        closest, next_closest = (sorted(similarity, reverse=True) + [0.0, 0.0])[:2]
        for own, row, close in zip(shared, rows, similarity):
            exclusive = sum([weights[c] / holders[c] for c in own]) / query.total
            gap = row[0] - (runner_up if row[0] >= best else best)
            close_gap = close - (next_closest if close >= closest else closest)
            row.extend((exclusive, gap, query.oos_prior, close, close_gap, query.length))
        return np.asarray(rows, dtype=np.float64)

    def _candidates(self, weights: dict[str, float]) -> list[int]:
        """The entries worth reranking: every one in a small FAQ, else the best by IDF-weighted shared concepts."""
        size = len(self.entries)
        if size <= SCORE_ALL_UP_TO:
            return list(range(size))
        found = [(ids, weight * self.distinct[c]) for c, weight in weights.items() if (ids := self.postings.get(c)) is not None]
        if not found:
            return []
        ids = np.concatenate([ids for ids, _ in found])
        scores = np.bincount(ids, np.repeat([w for _, w in found], [len(ids) for ids, _ in found]), minlength=size)
        # A tenth of a large FAQ, as a rule: the rest share no concept (nonzero on a float array is a
        # third as fast as on the comparison's booleans). Array methods, not numpy's functions: those
        # add a call in Python to each.
        held = (scores != 0).nonzero()[0]
        if not len(held):
            return []
        return held[best_of(scores[held], min(FIRST_STAGE_SIZE, len(held)))].tolist()

    def answer(self, index: int) -> str:
        """Entry `index`'s answer as matching reads it (simplified), computed the first time it is asked for."""
        text = self._answers[index]
        if text is None:
            text = self._answers[index] = to_simplified(self.entries[index].answer)
        return text

    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        """This thread's two scratch tables for _compare_text, by token id: found (1.0) and a concept's weight."""
        tables = getattr(self._scratch, "tables", None)
        if tables is None:
            size = len(self.concept_ids) + len(self.gram_ids) + len(self.char_ids)
            tables = self._scratch.tables = (np.zeros(size), np.zeros(size))
        return tables

    def _compare_text(self, candidates: list[int], query: "_Query") -> list[tuple[float, ...]]:
        """Per candidate: (phrasing_coverage, overlap, fuzzy, char_overlap), each the best of its phrasings
        by that measure, then (char_coverage, char1_coverage) over all its phrasings together.

        Every candidate and phrasing at once, in numpy (see _Flat): phrasing after phrasing in Python
        was half the time of a question in a large FAQ, and so, later, was a numpy call per measure.
        """
        flat = self._flat
        token_start, slot_start = flat.token_start, flat.slot_start
        tokens = np.concatenate([flat.tokens[token_start[c]:token_start[c + 1]] for c in candidates])
        slots = np.concatenate([flat.slots[slot_start[c]:slot_start[c + 1]] for c in candidates])
        sizes = [slot_start[c + 1] - slot_start[c] for c in candidates]
        first_slot = np.cumsum(sizes) - sizes
        ids, weights, own_slot = tokens.T
        ids = ids.astype(np.intp)
        slot = (own_slot + first_slot.repeat([token_start[c + 1] - token_start[c] for c in candidates])).astype(np.intp)
        found, asked = self._tables()
        known, concepts, concept_weights = query.lookup
        # The question's ids marked in two tables as long as FAQ's numbering, and unmarked after: a
        # table lookup is a third of the time of a sorted search.
        found[known], asked[concepts] = 1.0, concept_weights
        try:
            covered = np.bincount(slot, weights * found.take(ids), minlength=len(slots))
            # Only a concept's weight has the question's beside it (a bigram's is its IDF on both sides).
            capped = np.bincount(slot, np.minimum(weights, asked.take(ids)), minlength=len(slots))
        finally:
            found[known], asked[concepts] = 0.0, 0.0
        total, factor, per_gram, per_char = slots.T
        share = covered * factor / (total + per_gram * (query.gram_total or 1.0) + per_char * (query.char_total or 1.0))
        overlap = 2 * capped / (total + query.raw_total)
        marks = (flat.marks[candidates] + first_slot[:, None]).ravel()
        best_share = np.maximum.reduceat(share, marks).reshape(-1, 4).tolist()
        best_overlap = np.maximum.reduceat(overlap, marks)[::4].tolist()
        canons = list(chain.from_iterable(map(flat.entry_canons.__getitem__, candidates)))
        fuzzy = process.cdist([query.canon], canons, scorer=fuzz.ratio, dtype=np.float64)[0] / 100.0
        phrasings = flat.marks[candidates, 1]
        best_fuzzy = np.maximum.reduceat(fuzzy, phrasings.cumsum() - phrasings).tolist()
        return [(s[0], o, f, s[1], s[2], s[3]) for s, o, f in zip(best_share, best_overlap, best_fuzzy)]

    def features(self, index: int, query: "_Query", compared: tuple[float, ...], shared: list[str]) -> list[float]:
        """The evidence that entry `index` answers the question, given its _compare_text row; order as FEATURES.

        Adds the question's concepts that the entry has to `shared`, in the question's order.
        """
        share = self.entry_share[index]
        answer = self.answer(index)
        text = self.entry_texts[index]
        weights, total = query.weights, query.total
        covered = vocab = focus = distinct = missing = missing_noun = term_missing = in_answer = likelihood = 0.0
        counts, length = self.entry_counts[index], self.entry_length[index] + DIRICHLET_MU
        log = math.log
        for concept, weight, finder, raw, noun, term, background, prior, weighted_distinct in query.items:
            mentioned = finder is not None and finder(answer)
            if mentioned:
                in_answer += weight
            if concept in share:
                shared.append(concept)
                vocab += weight
                covered += weight
                focus += weight * share[concept]
                distinct += weighted_distinct
                # Query likelihood under the entry's words, smoothed towards the FAQ's (Dirichlet prior).
                likelihood += weight * log((counts[concept] + prior) / length / background)
                continue
            if finder is not None and finder(text):
                covered += PART_WORD_CREDIT * weight
            elif mentioned:
                covered += ANSWER_ONLY_CREDIT * weight
            else:
                if raw > missing:
                    missing = raw
                if noun and raw > missing_noun:
                    missing_noun = raw
                if term and raw > term_missing:
                    term_missing = raw
            likelihood += weight * log(prior / length / background)  # a count of 0
        best_pcov, best_overlap, best_fuzzy, best_char, char_coverage, char1_coverage = compared
        keyword = 1.0 if self.entry_keywords[index] and not self.entry_keywords[index].isdisjoint(weights) else 0.0
        intents = self.entry_intents[index]
        clash = 1.0 if query.intents and intents and query.intents.isdisjoint(intents) else 0.0
        thin = 1.0 / len(self.entry_phrasings[index])
        return [
            covered / total,
            vocab / total,
            missing,
            focus / total,
            best_pcov,
            best_overlap,
            best_fuzzy,
            char_coverage,
            best_char,
            keyword,
            distinct / total,
            in_answer / total,
            query.unknown,
            query.unknown_share,
            missing_noun,
            query.unknown_noun,
            char1_coverage,
            likelihood / total / 4.0,
            clash,
            thin,
            thin * in_answer / total,
            float(sum(not self._mentions(index, aspect) for aspect in query.aspects)) if query.aspects else 0.0,
            term_missing,
            float(sum(not self._gives(index, kind) for kind in query.kinds)) if query.kinds else 0.0,
        ]

    def decide(self, text: str) -> Decision:
        """Answer, suggest, escalate or ignore one question."""
        cleaned = clean(text, self.settings.name)
        if not strip_greetings(cleaned) or is_courtesy(text, self.settings.name):
            return Decision("ignore", reply="")
        settings = self.settings
        analysis = self.analyze(text)
        scored = self._score(analysis, self.prior.logit(normalize(text, settings.name)))
        content = sum(w for c, w in analysis.weights.items() if not c.startswith("intent:"))
        if scored is None or content < MIN_CONTENT_WEIGHT:
            # Too little that carries meaning ("公司年会还办不办": 公司 and a lone 年) to judge by.
            return render_reply(Decision("escalate", score=0.0), self.faq)
        candidates_idx, matrix, logits, probs = scored
        order = (-probs).argsort(kind="stable")
        ranked = [Candidate(self.entries[candidates_idx[k]].id, round(float(probs[k]), 4)) for k in order]
        shown = ranked[: max(settings.max_suggestions, 2)]
        top = ranked[0]
        confidence = round(self.confidence(matrix, logits, probs), 4)
        listed = self.listed.get(CONCEPT_SEPARATOR.join(analysis.concepts), -1)
        if listed >= 0:
            # Asked the way the FAQ lists it: the admin has said which answer that wants.
            entry_id = self.entries[listed].id
            shown = [c for c in ranked if c.faq_id == entry_id] + [c for c in shown if c.faq_id != entry_id]
            return render_reply(Decision("answer", entry_id, 1.0, shown[: max(settings.max_suggestions, 2)]), self.faq)
        margin = top.score - (ranked[1].score if len(ranked) > 1 else 0.0)
        topic = self._names_only_a_topic(analysis)
        if (
            confidence >= settings.answer_threshold
            # The ranker itself must favour the entry over "none of them": the verifier, fitted mostly
            # on answerable questions, can be sure of a first choice the ranker doubts.
            and top.score >= settings.answer_min_probability
            and margin >= settings.answer_margin
            and not topic
        ):
            decision = Decision("answer", top.faq_id, confidence, shown)
        elif topic or (confidence >= settings.suggest_threshold and self._torn(ranked)):
            # A one-word topic is asked about, not answered: list its entries however unsure the first is.
            close = [c for c in ranked if c.score >= SUGGEST_MIN_SHARE * top.score][: settings.max_suggestions]
            decision = Decision("suggest", top.faq_id, confidence, close)
        else:
            decision = Decision("escalate", None, confidence, shown)
        return render_reply(decision, self.faq)


class _Query:
    """What every candidate is compared with, computed once per question."""

    __slots__ = ("analysis", "weights", "total", "raw_total", "canon", "gram_weight", "gram_total", "unknown", "unknown_share", "nouns", "unknown_noun", "char_weight", "char_total", "intents", "aspects", "terms", "kinds", "oos_prior", "vector", "length", "lookup", "items")

    def __init__(self, analysis: Analysis, matcher: Matcher, oos_prior: float):
        self.analysis = analysis
        self.oos_prior = oos_prior
        self.length = math.log1p(len(analysis.text))
        self.vector = matcher.embedding.embed(analysis.words)
        self.weights = {c: matcher.weight(c, analysis) for c in analysis.concepts}
        self.total = sum(self.weights.values()) or 1.0
        self.raw_total = sum(analysis.weights.values()) or 1.0
        self.canon = "".join(analysis.concepts)
        content = analysis.content
        unknown = matcher._unknown_gram_idf
        # In the text's order, not a set's: summed in another order, a feature can differ in its last
        # bit and the verifier's confidence with it, from one process to the next.
        self.gram_weight = {g: matcher.gram_idf.get(g, unknown) for g in ordered_bigrams(content)}
        self.gram_total = sum(self.gram_weight.values())
        self.char_weight = {c: matcher.char_idf.get(c, unknown) for c in dict.fromkeys(content)}
        self.char_total = sum(self.char_weight.values())
        # The ids of the question's concepts, bigrams and characters that the FAQ knows, and of its
        # concepts alone with their weights: what _compare_text marks the candidates' tokens with.
        concepts = [(matcher.concept_ids[c], w) for c, w in analysis.weights.items() if c in matcher.concept_ids]
        concept_ids = [i for i, _ in concepts]
        self.lookup = (np.asarray(concept_ids + _known(matcher.gram_ids, self.gram_weight) + _known(matcher.char_ids, self.char_weight), dtype=np.intp),
                       np.asarray(concept_ids, dtype=np.intp), np.asarray([w for _, w in concepts], dtype=np.float64))
        unknown = [c for c in analysis.concepts if c not in matcher.distinct and not c.startswith("intent:")]
        self.unknown = max((analysis.weights[c] for c in unknown), default=0.0)
        self.unknown_share = sum(self.weights[c] for c in unknown) / self.total
        noun_like = matcher.analyzer.segmenter.is_noun_like
        self.nouns = frozenset(c for c in analysis.concepts if noun_like(analysis.surfaces[c]))
        self.unknown_noun = max((analysis.weights[c] for c in unknown if c in self.nouns), default=0.0)
        self.intents = frozenset(c for c in analysis.concepts if c.startswith("intent:"))
        self.aspects = aspects_of(matcher.analyzer.segmenter.cut(analysis.text))
        self.terms = frozenset(c for c in self.nouns if _is_term(analysis.surfaces[c]))
        asks_amount = _AMOUNT_ASKED.search(analysis.text.replace(" ", "")) is not None
        self.kinds = frozenset((*(c for c in self.intents if c in _KIND_PATTERNS), *(("amount",) if asks_amount else ())))
        # Per concept, what features() reads for every candidate, looked up once per question: the concept,
        # its weight, its finder (the question's word or a synonym in an entry's text; None: nothing to
        # find), its weight in the analysis, whether it is a noun and a term, its background probability,
        # the Dirichlet prior's mass on it, and its weight times how distinct it is (for entries that have it).
        background = [matcher.background.get(c, matcher._unseen) for c in self.weights]
        distinct = matcher.distinct
        self.items = [(c, w, matcher.finder(c, analysis.surfaces[c]), analysis.weights[c], c in self.nouns, c in self.terms,
                       b, DIRICHLET_MU * b, w * distinct.get(c, 0.0))
                      for (c, w), b in zip(self.weights.items(), background)]


def _known(ids: dict[str, int], items) -> list[int]:
    """The ids of those items the FAQ has."""
    return [ids[x] for x in items if x in ids]


def aspects_of(words: tuple[str, ...]) -> frozenset[str]:
    """The aspects (lexicon.ASPECTS) a question names, given its words.

    A one-character aspect word counts only as a whole word of the question: 元 in "500元", not in
    元宵节, 单元 or 元器件; 费 not in 浪费. Longer ones count anywhere (员工工资 is about 工资).
    """
    text = "".join(words)
    found = {name for name, pattern in _ASPECT_PATTERNS.items() if pattern is not None and pattern.search(text)}
    for word in words:
        if len(word) == 1:
            found.update(_ASPECT_CHARS.get(word, ()))
    return frozenset(found)


def _aspect_tables() -> tuple[dict, dict]:
    """Per aspect, one pattern of its longer words; per one-character word, the aspects it names."""
    patterns, chars = {}, {}
    for name, aspect_words in lexicon.ASPECTS.items():
        longer = sorted((w for w in aspect_words if len(w) > 1), key=len, reverse=True)
        patterns[name] = re.compile("|".join(map(re.escape, longer))) if longer else None
        for w in aspect_words:
            if len(w) == 1:
                chars.setdefault(w, []).append(name)
    return patterns, chars


_ASPECT_PATTERNS, _ASPECT_CHARS = _aspect_tables()


def names_aspect(text: str, aspect: str) -> bool:
    """Whether an entry's text uses one of an aspect's words anywhere (generous: then it does not count against the entry)."""
    return _ASPECT_ANYWHERE[aspect].search(text) is not None


_ASPECT_ANYWHERE = {name: re.compile("|".join(map(re.escape, words))) for name, words in lexicon.ASPECTS.items()}


def _is_term(word: str) -> bool:
    """A named fee, tax, certificate, fund, licence ... (lexicon.TERM_ENDINGS), given a naming word."""
    return word[-1] in lexicon.TERM_ENDINGS and word not in lexicon.NOT_TERMS
