"""How likely a question is to lie outside an FAQ of these groups, from its wording alone.

Out-of-scope questions in enterprise groups have a shape of their own: a fee or tax relief, money
that has not arrived (到账), a lost or expired document, a complaint (申诉, 投诉), a broken login.
A logistic model over the character n-grams of the normalised question, fitted on the labelled
questions of many FAQs (bench/train_ranker.py, weights in faq/data/prior.json), gives the log-odds
that a question is out of scope. The ranker weighs it, for every candidate, against the "none of
them" option (faq/matcher.py, feature question_prior), beside the evidence of the match itself.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from functools import cached_property
from pathlib import Path

import numpy as np

PRIOR_FILE = Path(__file__).resolve().parent / "data" / "prior.json"
GRAM_SIZES = (1, 2, 3)
L2 = 1.0


def grams(text: str) -> Counter[str]:
    """Character n-grams of a normalised text, within its space-separated runs (not across a comma)."""
    return Counter([run[i : i + size] for run in text.split() for size in GRAM_SIZES for i in range(len(run) - size + 1)])


def vector(counts: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    """Sublinear tf x idf over known n-grams, scaled to unit length."""
    raw = {g: (1.0 + math.log(n)) * idf[g] for g, n in counts.items() if g in idf}
    norm = math.sqrt(sum(v * v for v in raw.values())) or 1.0
    return {g: v / norm for g, v in raw.items()}


class QuestionPrior:
    """The fitted model: log-odds that a normalised question is out of scope."""

    def __init__(self, idf: dict[str, float], weights: dict[str, float], bias: float):
        self.bias = bias
        self._table = {g: (v, weights.get(g, 0.0)) for g, v in idf.items()}  # one lookup per n-gram

    @classmethod
    def _from_table(cls, table: dict[str, tuple[float, float]], bias: float) -> "QuestionPrior":
        prior = cls.__new__(cls)
        prior.bias, prior._table = bias, table
        return prior

    @cached_property
    def idf(self) -> dict[str, float]:
        return {g: idf for g, (idf, _) in self._table.items()}

    @cached_property
    def weights(self) -> dict[str, float]:
        """The n-grams' weights, those that are not 0."""
        return {g: weight for g, (_, weight) in self._table.items() if weight}

    def logit(self, normalized: str) -> float:
        # vector() and the weighted sum in one pass, without the intermediate dict
        table, log = self._table, math.log
        squares = dot = 0.0
        for g, n in grams(normalized).items():
            found = table.get(g)
            if found is not None:
                idf, weight = found
                value = idf if n == 1 else (1.0 + log(n)) * idf  # log(1) is 0 exactly: no log for most
                squares += value * value
                dot += value * weight
        return self.bias + dot / (math.sqrt(squares) or 1.0)

    def to_json(self) -> dict:
        # Three columns, not a pair per n-gram: a start reads them back in half the time.
        grams = sorted(self.idf)
        return {"bias": round(self.bias, 4), "grams": grams, "idf": [round(self.idf[g], 3) for g in grams],
                "weights": [round(self.weights.get(g, 0.0), 4) for g in grams]}

    @classmethod
    def from_json(cls, data: dict) -> "QuestionPrior":
        # The lookup table straight from the file: building idf and weights first was a tenth of a start.
        table = dict(zip(data["grams"], zip(data["idf"], [weight or 0.0 for weight in data["weights"]], strict=True), strict=True))
        return cls._from_table(table, float(data["bias"]))


def load_prior(path: Path = PRIOR_FILE) -> QuestionPrior:
    return QuestionPrior.from_json(json.loads(path.read_text(encoding="utf-8")))


def fit_prior(texts: list[str], out_of_scope: list[bool], min_df: int = 2, iterations: int = 400) -> QuestionPrior:
    """L2-regularised logistic regression on the questions' n-gram vectors (n-grams in min_df questions or more)."""
    counted = [grams(t) for t in texts]
    df: Counter[str] = Counter()
    for counts in counted:
        df.update(counts.keys())
    vocab = sorted(g for g, n in df.items() if n >= min_df)
    size = len(texts)
    idf = {g: math.log((1 + size) / (1 + df[g])) + 1.0 for g in vocab}
    column = {g: i for i, g in enumerate(vocab)}
    rows, cols, vals = [], [], []
    for r, counts in enumerate(counted):
        for g, v in vector(counts, idf).items():
            rows.append(r), cols.append(column[g]), vals.append(v)
    rows_a, cols_a, vals_a = np.asarray(rows), np.asarray(cols), np.asarray(vals)
    y = np.asarray(out_of_scope, dtype=np.float64)
    w, b = _fit(rows_a, cols_a, vals_a, y, len(vocab), iterations)
    return QuestionPrior(idf, {g: float(w[i]) for i, g in enumerate(vocab) if abs(w[i]) >= 1e-4}, float(b))


def _fit(rows, cols, vals, y, dims: int, iterations: int) -> tuple[np.ndarray, float]:
    """Minimise the log loss plus L2/2 |w|^2 by L-BFGS (the rows are sparse: products by bincount)."""
    n = len(y)

    def loss_grad(theta):
        w, b = theta[:-1], theta[-1]
        z = np.bincount(rows, weights=vals * w[cols], minlength=n) + b
        loss = float(np.sum(np.logaddexp(0.0, z) - y * z)) + 0.5 * L2 * float(w @ w)
        r = 0.5 * (1.0 + np.tanh(0.5 * z)) - y  # the logistic function, without overflow
        grad_w = np.bincount(cols, weights=vals * r[rows], minlength=dims) + L2 * w
        return loss, np.append(grad_w, r.sum())

    theta = np.zeros(dims + 1)
    loss, grad = loss_grad(theta)
    history: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(iterations):
        direction = -_two_loop(grad, history)
        step = 1.0
        while True:  # backtracking (Armijo)
            candidate = theta + step * direction
            new_loss, new_grad = loss_grad(candidate)
            if new_loss <= loss + 1e-4 * step * float(grad @ direction):
                break
            step /= 2
            if step < 1e-10:  # no step lowers the loss: as close to the optimum as this precision allows
                return theta[:-1], float(theta[-1])
        s, g_diff = candidate - theta, new_grad - grad
        if float(s @ g_diff) > 1e-12:
            history = (history + [(s, g_diff)])[-10:]
        theta, converged = candidate, abs(loss - new_loss) < 1e-9 * max(1.0, abs(loss))
        loss, grad = new_loss, new_grad
        if converged or np.abs(grad).max() < 1e-6:
            break
    return theta[:-1], float(theta[-1])


def _two_loop(grad: np.ndarray, history) -> np.ndarray:
    """L-BFGS: the inverse-Hessian estimate times the gradient."""
    q = grad.copy()
    alphas = []
    for s, y in reversed(history):
        rho = 1.0 / float(y @ s)
        alpha = rho * float(s @ q)
        q -= alpha * y
        alphas.append((rho, alpha, s, y))
    if history:
        s, y = history[-1]
        q *= float(s @ y) / float(y @ y)
    for rho, alpha, s, y in reversed(alphas):
        q += (alpha - rho * float(y @ q)) * s
    return q
