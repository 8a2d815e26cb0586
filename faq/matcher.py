"""Match a question against the FAQ: candidates from an inverted index, reranked on several kinds of evidence."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from bot.config import BotConfig
from bot.model import Candidate, Decision
from faq.analysis import Analysis, Analyzer
from faq.loader import Entry, Faq
from faq.replies import render_reply
from faq.text import clean, is_courtesy, normalize, segmenter, strip_greetings, to_simplified

ANSWER_ONLY_CREDIT = 0.4  # a question word found only in an entry's answer counts for this much
FIRST_STAGE_SIZE = 24


@dataclass(frozen=True)
class Phrasing:
    """One way an entry is asked, analysed once at load time."""

    entry: int
    analysis: Analysis
    canon: str  # its concepts joined, for order-aware fuzzy comparison


@dataclass(frozen=True)
class Scored:
    """An entry's confidence for one question, with the evidence behind it."""

    entry: Entry
    score: float
    coverage: float
    phrasing_coverage: float
    overlap: float
    fuzzy: float


class Matcher:
    """An FAQ index; decide() turns a question into a Decision."""

    def __init__(self, faq: Faq, settings: BotConfig | None = None):
        self.faq = faq
        self.settings = settings or BotConfig()
        keywords = [k for e in faq.entries for k in e.keywords]
        self.analyzer = Analyzer(segmenter(), faq.synonyms, keywords)
        self.entries = faq.entries
        self._build()

    # ---- building -------------------------------------------------------------------------
    def _build(self) -> None:
        analyze = self.analyzer.analyze
        self.phrasings: list[Phrasing] = []
        self.entry_phrasings: list[list[int]] = []
        self.entry_vocab: list[frozenset[str]] = []
        self.answers: list[str] = []
        postings: dict[str, list[int]] = {}
        for index, entry in enumerate(self.entries):
            own: list[int] = []
            vocab: set[str] = set()
            for text in entry.normalized:
                analysis = analyze(text, repair=False)
                own.append(len(self.phrasings))
                self.phrasings.append(Phrasing(index, analysis, "".join(analysis.concepts)))
                vocab.update(analysis.concepts)
            for keyword in entry.keywords:
                vocab.update(analyze(normalize(keyword), repair=False).concepts)
            self.entry_phrasings.append(own)
            self.entry_vocab.append(frozenset(vocab))
            for concept in vocab:
                postings.setdefault(concept, []).append(index)
            # Answers are long: searched as text for the few candidates, never segmented.
            self.answers.append(to_simplified(entry.answer))
        size = max(len(self.entries), 1)
        self.postings = {c: np.asarray(ids, dtype=np.int32) for c, ids in postings.items()}
        # How much a concept tells entries apart: 1 for a concept no entry has, near 0 for one all share.
        top = math.log((size + 1) / 0.5)
        self.distinct = {c: math.log((size + 1) / (len(ids) + 0.5)) / top for c, ids in postings.items()}
        self.analyzer.learn_vocabulary(
            w for p in self.phrasings for w in self.analyzer.segmenter.cut(p.analysis.text)
        )
        self.analyzer.learn_vocabulary(self.analyzer.canonical)

    # ---- matching -------------------------------------------------------------------------
    def weight(self, concept: str, analysis: Analysis) -> float:
        """A question concept's weight: general informativeness, scaled by how well it separates entries."""
        distinct = self.distinct.get(concept, 1.0)
        return analysis.weights[concept] * (0.35 + 0.65 * distinct)

    def rank(self, text: str, limit: int = 5) -> list[Scored]:
        """The best entries for a question, most confident first."""
        analysis = self.analyzer.analyze(normalize(text, self.settings.name))
        if not analysis.concepts:
            return []
        weights = {c: self.weight(c, analysis) for c in analysis.concepts}
        total = sum(weights.values())
        candidates = self._candidates(weights)
        scored = [self._score(i, analysis, weights, total) for i in candidates]
        scored.sort(key=lambda s: s.score, reverse=True)
        return scored[:limit]

    def _candidates(self, weights: dict[str, float]) -> list[int]:
        if len(self.entries) <= FIRST_STAGE_SIZE:
            return list(range(len(self.entries)))
        acc = np.zeros(len(self.entries), dtype=np.float32)
        for concept, weight in weights.items():
            ids = self.postings.get(concept)
            if ids is not None:
                acc[ids] += weight
        hits = int(np.count_nonzero(acc))
        if hits == 0:
            return []
        k = min(FIRST_STAGE_SIZE, hits)
        top = np.argpartition(-acc, k - 1)[:k]
        return [int(i) for i in top]

    def _score(self, index: int, analysis: Analysis, weights: dict[str, float], total: float) -> Scored:
        vocab = self.entry_vocab[index]
        answer = self.answers[index]
        covered = 0.0
        for concept, weight in weights.items():
            if concept in vocab:
                covered += weight
            elif analysis.surfaces[concept] in answer or concept in answer:
                covered += ANSWER_ONLY_CREDIT * weight
        coverage = covered / total if total else 0.0
        best = (0.0, 0.0, 0.0)
        query_canon = "".join(analysis.concepts)
        for p in self.entry_phrasings[index]:
            phrasing = self.phrasings[p]
            pw = phrasing.analysis.weights
            p_total = sum(pw.values()) or 1.0
            common = [c for c in analysis.concepts if c in pw]
            phrasing_coverage = sum(pw[c] for c in common) / p_total
            overlap = 2 * sum(min(pw[c], analysis.weights[c]) for c in common) / (
                p_total + sum(analysis.weights.values())
            )
            fuzzy = fuzz.ratio(query_canon, phrasing.canon) / 100.0
            key = (phrasing_coverage * 0.5 + overlap * 0.3 + fuzzy * 0.2, phrasing_coverage, overlap, fuzzy)
            if key[0] > best[0] or best == (0.0, 0.0, 0.0):
                best = key[1:]
                best_key = key[0]
        phrasing_coverage, overlap, fuzzy = best
        score = 0.55 * coverage + 0.25 * phrasing_coverage + 0.1 * overlap + 0.1 * fuzzy
        return Scored(self.entries[index], round(score, 4), coverage, phrasing_coverage, overlap, fuzzy)

    def decide(self, text: str) -> Decision:
        """Answer, suggest, escalate or ignore one question."""
        cleaned = clean(text, self.settings.name)
        if not strip_greetings(cleaned) or is_courtesy(cleaned):
            return Decision("ignore", reply="")
        ranked = self.rank(text, limit=max(self.settings.max_suggestions, 2))
        candidates = [Candidate(s.entry.id, s.score) for s in ranked]
        if not ranked:
            return render_reply(Decision("escalate", score=0.0), self.faq)
        top = ranked[0]
        second = ranked[1].score if len(ranked) > 1 else 0.0
        settings = self.settings
        if top.score >= settings.answer_threshold and top.score - second >= settings.answer_margin:
            decision = Decision("answer", top.entry.id, top.score, candidates)
        elif top.score >= settings.suggest_threshold:
            close = [c for c in candidates if c.score >= settings.suggest_threshold][: settings.max_suggestions]
            decision = Decision("suggest", top.entry.id, top.score, close)
        else:
            decision = Decision("escalate", top.entry.id, top.score, candidates)
        return render_reply(decision, self.faq)
