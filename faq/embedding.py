"""A learned closeness of a question to an entry, beyond the words they share.

Each character n-gram (1 to 3 characters within a word, as jieba cuts the text) has a vector; a text's
vector is the tf-idf weighted sum of its n-grams' vectors, scaled to unit length. Within words, so that
a word's part of the sum is computed once per FAQ load, not once per entry that uses it. The vectors start as a random
projection, under which closeness is roughly shared n-grams, and are then fitted on the labelled
questions of many FAQs (bench/train_ranker.py, weights in faq/data/embedding.npz) so that a question
lies closer to its entry's phrasings than to the other entries of its FAQ. That teaches the ways
enterprise contacts ask that no FAQ wrote down: 上下铺 near 宿舍, 睡满 near 住几个人. The ranker weighs
the closeness, and how much closer than the next candidate, as evidence (faq/matcher.py, features
learned_similarity and similarity_gap).
"""
from __future__ import annotations

import math
from collections import Counter
from itertools import chain
from pathlib import Path
from typing import Sequence

import numpy as np

from faq.prior import grams

EMBEDDING_FILE = Path(__file__).resolve().parent / "data" / "embedding.npz"
DIMENSIONS = 128
STEPS = 80
DECAY = 1e-3  # pull towards the starting projection, per labelled question: keeps rare n-grams near it
SCALE = 10.0  # closeness (-1..1) times this is the logit the fitting's softmax compares
LEARNING_RATE = 0.01
WORD_CACHE_SIZE = 100_000
CHUNK = 512  # texts summed at once (_Sums): a chunk's values form a dense matrix
FEW_NEW_WORDS = 8  # up to this many new words (a question's) are summed one by one, not as a batch


class Embedding:
    """Fitted n-gram vectors: embed() gives the unit vector of a segmented text."""

    def __init__(self, ngrams: list[str], idf: np.ndarray, vectors: np.ndarray):
        self.ngrams = ngrams
        self.column = {g: i for i, g in enumerate(ngrams)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self._words: dict[str, np.ndarray] = {}

    def embed(self, words: Sequence[str]) -> np.ndarray:
        """A text's unit vector from its words (zeros when none has a known n-gram)."""
        cache = self._cached(words)
        total = np.zeros(self.vectors.shape[1], dtype=np.float32)
        for word in words:
            total += cache[word]
        norm = math.sqrt(float(total @ total))
        return total / norm if norm > 0 else total

    def embed_many(self, texts: Sequence[Sequence[str]]) -> np.ndarray:
        """Unit vectors of many segmented texts (an FAQ's entries): each distinct word is summed once."""
        vectors, new_words, new_vectors = self.embed_many_apart(texts)
        self.remember(new_words, new_vectors)
        return vectors

    def embed_many_apart(self, texts: Sequence[Sequence[str]]) -> tuple[np.ndarray, list[str], np.ndarray]:
        """embed_many, leaving the word cache as it was: (the vectors, the texts' words, their vectors).

        Every word is summed anew in one batch, whatever the cache holds: a word a question brought
        was summed alone, which can differ in the last bit, and an FAQ's vectors must not depend on
        what a process was asked before (faq/kept.py keeps them for other processes). For a child
        process too: the parent then remember()s the words, as embed_many does.
        """
        words = list(chain.from_iterable(texts))
        distinct = list(dict.fromkeys(words))
        index = {word: i for i, word in enumerate(distinct)}
        rows = np.fromiter(map(index.__getitem__, words), np.int64, len(words))
        starts = np.cumsum([0] + [len(text) for text in texts[:-1]], dtype=np.int64)
        sums = _Sums(rows, np.ones(len(rows), dtype=np.float32), starts, len(texts))
        computed = self._batch(distinct)
        return _unit(sums.forward(computed)), distinct, computed

    def word_vectors(self, words: Sequence[str]) -> np.ndarray:
        """Each word's vector: its n-grams' vectors times their IDF, summed."""
        cache = self._cached(words)
        return self._stack([cache[w] for w in words])

    def remember(self, words: Sequence[str], vectors: np.ndarray) -> None:
        """Add words' vectors (rows) to the shared cache."""
        if len(words):
            if len(self._words) > WORD_CACHE_SIZE:  # questions keep bringing new words: stay bounded
                self._words.clear()
            self._words.update(zip(words, vectors))

    def _cached(self, words: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors of `words`, from the shared cache or computed and added to it."""
        found, missing = self._split(words)
        if missing:
            computed = self._compute(missing)
            self.remember(missing, computed)
            found.update(zip(missing, computed))
        return found

    def _split(self, words: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
        """The cached vectors of `words`, and the words (each once) not in the cache."""
        cache = self._words
        found: dict[str, np.ndarray] = {}
        missing = []
        for word in dict.fromkeys(words):
            vector = cache.get(word)
            if vector is None:
                missing.append(word)
            else:
                found[word] = vector
        return found, missing

    def _compute(self, words: list[str]) -> np.ndarray:
        """The vectors of words, one row each."""
        if len(words) <= FEW_NEW_WORDS:
            # A question's few new words: each its own small product (a batch costs ~0.1 ms to set up).
            return self._stack([self._word_vector(word) for word in words])
        return self._batch(words)

    def _batch(self, words: list[str]) -> np.ndarray:
        """The vectors of words, one row each, summed as one sparse product."""
        if not words:
            return self._stack([])
        return _Sums(*_sparse([[w] for w in words], self.column, self.idf, scale=False), len(words)).forward(self.vectors)

    def _stack(self, vectors: list[np.ndarray]) -> np.ndarray:
        return np.stack(vectors) if vectors else np.zeros((0, self.vectors.shape[1]), np.float32)

    def _word_vector(self, word: str) -> np.ndarray:
        """One word's vector: its known n-grams' vectors times tf x idf, summed."""
        found = sorted((self.column[g], n) for g, n in word_grams([word]).items() if g in self.column)
        if not found:
            return np.zeros(self.vectors.shape[1], dtype=np.float32)
        columns = [c for c, _ in found]
        values = np.asarray([n * float(self.idf[c]) for c, n in found], dtype=np.float32)
        return values @ self.vectors[columns]

    def save(self, path: Path = EMBEDDING_FILE) -> None:
        np.savez_compressed(path, ngrams=np.asarray(self.ngrams), idf=self.idf.astype(np.float32),
                            vectors=self.vectors.astype(np.float16))


def load_embedding(path: Path = EMBEDDING_FILE) -> Embedding:
    with np.load(path) as data:
        return Embedding(data["ngrams"].tolist(), data["idf"], data["vectors"])


def word_grams(words: Sequence[str]) -> Counter[str]:
    """Character n-grams (1 to 3) within each word: a text's vector is then a sum over its words."""
    return grams(" ".join(words))  # faq/prior.py's n-grams stay within a space-separated run


def _sparse(texts: Sequence[Sequence[str]], column: dict[str, int], idf: np.ndarray, scale: bool = True):
    """Each text's known n-grams as (columns, tf x idf values), texts one after another; `scale`: unit length."""
    columns: list[int] = []
    values: list[float] = []
    starts = []
    for words in texts:
        starts.append(len(columns))
        found = [(column[g], n * float(idf[column[g]])) for g, n in word_grams(words).items() if g in column]
        norm = math.sqrt(sum(v * v for _, v in found)) if scale else 1.0
        columns.extend(c for c, _ in found)
        values.extend(v / (norm or 1.0) for _, v in found)
    return (np.asarray(columns, dtype=np.int64), np.asarray(values, dtype=np.float32),
            np.asarray(starts, dtype=np.int64))


class _Sums:
    """Per text, the sum of some rows of a matrix times a value each (a sparse matrix times a dense one).

    Computed in chunks of texts: a chunk's values form a dense texts x rows-used matrix, and its sums
    one matrix product. (numpy's add.reduceat over rows of 128 numbers is ten times slower.)
    """

    def __init__(self, columns: np.ndarray, values: np.ndarray, starts: np.ndarray, count: int):
        bounds = np.append(starts, len(columns)).astype(np.int64)
        owner = np.repeat(np.arange(count), np.diff(bounds))
        self.count = count
        self.chunks = []
        for first in range(0, count, CHUNK):
            last = min(first + CHUNK, count)
            part = slice(bounds[first], bounds[last])
            used, position = np.unique(columns[part], return_inverse=True)
            dense = np.bincount((owner[part] - first) * len(used) + position, weights=values[part],
                                minlength=(last - first) * len(used))
            self.chunks.append((first, last, used, dense.reshape(last - first, len(used)).astype(np.float32)))

    def forward(self, matrix: np.ndarray) -> np.ndarray:
        out = np.zeros((self.count, matrix.shape[1]), dtype=np.float32)
        for first, last, used, dense in self.chunks:
            out[first:last] = dense @ matrix[used]
        return out

    def backward(self, grad_out: np.ndarray, grad: np.ndarray) -> None:
        """Add the gradient of the sums (grad_out, one row per text) to that of the matrix."""
        for first, last, used, dense in self.chunks:
            grad[used] += dense.T @ grad_out[first:last]  # each row once per chunk: no repeated index


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def _texts(texts: Sequence[Sequence[str]], column: dict[str, int], idf: np.ndarray) -> _Sums:
    """A fixed batch of texts for fitting, as sums of their n-grams' vectors."""
    return _Sums(*_sparse(texts, column, idf), len(texts))


def fit_embedding(faqs: list[tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[int]]], min_df: int = 2,
                  dimensions: int = DIMENSIONS, steps: int = STEPS, seed: int = 0) -> Embedding:
    """Fit n-gram vectors so each question is closest to its own entry among its FAQ's entries.

    `faqs`: per FAQ, (the entries' texts, the labelled questions, each question's entry index or -1 for an
    out-of-scope question), texts as words. An out-of-scope question is fitted to lie farther from every
    entry than a closeness bar, fitted with the vectors, that answerable questions clear for their own.
    """
    df: Counter[str] = Counter()
    for entries, questions, _ in faqs:
        for words in (*entries, *questions):
            df.update(word_grams(words).keys())
    ngrams = sorted(g for g, n in df.items() if n >= min_df)
    size = sum(len(entries) + len(questions) for entries, questions, _ in faqs)
    idf = np.asarray([math.log((1 + size) / (1 + df[g])) + 1.0 for g in ngrams], dtype=np.float32)
    column = {g: i for i, g in enumerate(ngrams)}
    batches = [(_texts(entries, column, idf), _texts(questions, column, idf), np.asarray(targets))
               for entries, questions, targets in faqs if questions]
    start = (np.random.default_rng(seed).normal(size=(len(ngrams), dimensions)) / math.sqrt(dimensions)).astype(np.float32)
    vectors = start.copy()
    decay = DECAY * sum(len(t) for _, _, t in batches)
    bar = np.zeros(1, dtype=np.float32)
    state = {"vectors": (np.zeros_like(vectors), np.zeros_like(vectors)), "bar": (np.zeros(1), np.zeros(1))}
    for step in range(1, steps + 1):
        grad = decay * (vectors - start)
        grad_bar = np.zeros(1)
        for entries, questions, targets in batches:
            grad_bar += _contrastive_gradient(vectors, float(bar[0]), entries, questions, targets, grad)
        _adam(vectors, grad, state, "vectors", step)
        _adam(bar, grad_bar, state, "bar", step)
    # The bar is not kept: the ranker has its own "none of them" option and weighs the closeness itself.
    return Embedding(ngrams, idf, vectors)


def _adam(param: np.ndarray, grad: np.ndarray, state: dict, name: str, step: int) -> None:
    moment, second = state[name]
    moment = 0.9 * moment + 0.1 * grad
    second = 0.999 * second + 0.001 * grad * grad
    state[name] = moment, second
    param -= (LEARNING_RATE * (moment / (1 - 0.9**step)) / (np.sqrt(second / (1 - 0.999**step)) + 1e-8)).astype(param.dtype)


def _contrastive_gradient(vectors, bar: float, entries: _Sums, questions: _Sums, targets: np.ndarray, grad) -> float:
    """Add the gradient of the softmax loss of each question over its FAQ's entries and "none of them"
    (closeness x SCALE; none's closeness is `bar`); return the loss's gradient for the bar."""
    raw_e, raw_q = entries.forward(vectors), questions.forward(vectors)
    norm_e = np.linalg.norm(raw_e, axis=1, keepdims=True) + 1e-9
    norm_q = np.linalg.norm(raw_q, axis=1, keepdims=True) + 1e-9
    e, q = raw_e / norm_e, raw_q / norm_q
    count = len(e)
    logits = SCALE * np.hstack((q @ e.T, np.full((len(q), 1), bar, dtype=q.dtype)))
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(targets)), np.where(targets < 0, count, targets)] -= 1.0
    p *= SCALE
    grad_q, grad_e = p[:, :count] @ e, p[:, :count].T @ q
    # Back through the scaling to unit length.
    grad_q = (grad_q - (grad_q * q).sum(axis=1, keepdims=True) * q) / norm_q
    grad_e = (grad_e - (grad_e * e).sum(axis=1, keepdims=True) * e) / norm_e
    questions.backward(grad_q, grad)
    entries.backward(grad_e, grad)
    return float(p[:, count].sum())
