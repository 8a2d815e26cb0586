"""Fit the matcher's confidence model on labelled questions; write faq/data/ranker.json.

    .venv/bin/python bench/train_ranker.py            # cross-FAQ check, then fit on all and write
    .venv/bin/python bench/train_ranker.py --dry-run  # only the check

Each (question, entry) pair is one example: 1 when the entry is the labelled answer. Out-of-scope
questions give only negatives. The check trains on one FAQ's questions and measures on another
FAQ's, which is what an FAQ the model has never seen looks like.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faq.evaluation import load_labelled  # noqa: E402
from faq.loader import load_faq  # noqa: E402
from faq.matcher import FEATURES, RANKER_FILE, Matcher, _Query, confidences  # noqa: E402
from faq.text import clean, is_courtesy, strip_greetings  # noqa: E402

DATA = ROOT / "tests" / "data"
SETS = {
    "starter": (ROOT / "faq" / "data" / "faq.yaml", DATA / "eval_starter_dev.yaml"),
    "other": (DATA / "other_faq.yaml", DATA / "eval_other.yaml"),
    "third": (DATA / "third_faq.yaml", DATA / "eval_third.yaml"),
    "fourth": (DATA / "fourth_faq.yaml", DATA / "eval_fourth.yaml"),
}
L2 = 1.0
OUT_OF_SCOPE_WEIGHT = 3.0  # a wrong answer costs more than a missed one


def examples(name: str):
    """Per question: (label, matrix of features for every entry, entry ids)."""
    faq_path, labelled = SETS[name]
    matcher = Matcher(load_faq(faq_path))
    ids = [e.id for e in matcher.entries]
    out = []
    for item in load_labelled(labelled):
        if item.expect == "ignore":
            continue
        cleaned = clean(item.question, matcher.settings.name)
        if not strip_greetings(cleaned) or is_courtesy(cleaned):
            continue
        analysis = matcher.analyze(item.question)
        if not analysis.concepts:
            continue
        query = _Query(analysis, matcher)
        matrix = matcher.feature_matrix(list(range(len(ids))), query)
        out.append((item.expect, matrix, ids))
    return out


def fit(groups) -> tuple[np.ndarray, float]:
    """Conditional logit by Newton's method: each question picks one entry, or none (score 0)."""
    dims = groups[0][1].shape[1] + 1
    w = np.zeros(dims)
    reg = np.full(dims, L2)
    reg[-1] = 0.0
    prepared = []
    for label, matrix, ids in groups:
        x1 = np.hstack([matrix, np.ones((len(matrix), 1))])
        target = np.zeros(dims) if label not in ids else x1[ids.index(label)]
        prepared.append((x1, target, OUT_OF_SCOPE_WEIGHT if label not in ids else 1.0))
    for _ in range(100):
        grad = reg * w
        hess = np.diag(reg)
        for x1, target, weight in prepared:
            s = x1 @ w
            top = max(s.max(), 0.0)
            e = np.exp(s - top)
            p = e / (np.exp(-top) + e.sum())  # the "none of them" option has score 0
            mean = p @ x1
            grad += weight * (mean - target)
            hess += weight * ((x1 * p[:, None]).T @ x1 - np.outer(mean, mean))
        step = np.linalg.solve(hess, grad)
        scale, before = 1.0, _loss(prepared, w, reg)
        while _loss(prepared, w - scale * step, reg) > before and scale > 1e-6:
            scale /= 2  # Newton overshoots far from the optimum: back off
        w -= scale * step
        if np.abs(scale * step).max() < 1e-7:
            break
    return w[:-1], float(w[-1])


def _loss(prepared, w, reg):
    total = 0.5 * float(reg @ (w * w))
    for x1, target, weight in prepared:
        s = x1 @ w
        top = max(s.max(), 0.0)
        total += weight * (top + np.log(np.exp(-top) + np.exp(s - top).sum()) - float(target @ w))
    return total


def probabilities(matrix, coef, bias):
    return confidences(matrix, coef, bias)


def measure(groups, coef, bias, answer_t, margin, suggest_t):
    answerable = right = wrong = oos = escalated = 0
    for label, matrix, ids in groups:
        p = probabilities(matrix, coef, bias)
        order = np.argsort(-p)
        p1, p2 = p[order[0]], p[order[1]]
        top = ids[order[0]]
        answered = p1 >= answer_t and p1 - p2 >= margin
        if label == "escalate":
            oos += 1
            escalated += p1 < suggest_t
        else:
            answerable += 1
            right += answered and top == label
        wrong += answered and top != label
    total = len(groups)
    return right / max(answerable, 1), wrong / max(total, 1), escalated / max(oos, 1)


def top1(groups, coef, bias):
    hits = [ids[int(np.argmax(m @ coef + bias))] == label for label, m, ids in groups if label != "escalate"]
    return sum(hits) / len(hits)


def report(name, groups, coef, bias):
    print(f"  {name}: top-1 {top1(groups, coef, bias):.1%}")
    for answer_t in (0.3, 0.4, 0.5, 0.6):
        for margin in (0.0, 0.2):
            r, w, e = measure(groups, coef, bias, answer_t, margin, 0.25)
            print(f"    answer>={answer_t:.2f} margin>={margin:.2f}: right {r:.1%} wrong {w:.1%} oos-escalated(<0.25) {e:.1%}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    data = {name: examples(name) for name in SETS}
    folds = {}
    for test in SETS:
        coef, bias = fit([g for name in SETS if name != test for g in data[name]])
        folds[test] = (coef, bias)
        print(f"trained without {test}, measured on it (never seen):")
        report(test, data[test], coef, bias)
    print("held-out folds pooled: answer / margin / suggest -> right, wrong, out-of-scope escalated")
    for answer_t in (0.3, 0.35, 0.4, 0.45, 0.5):
        for margin in (0.1, 0.2, 0.3):
            for suggest_t in (0.25, 0.3, 0.35):
                if suggest_t > answer_t:
                    continue
                rows = [measure(data[t], *folds[t], answer_t, margin, suggest_t) for t in SETS]
                mean = [sum(r[i] for r in rows) / len(rows) for i in range(3)]
                worst_wrong = max(r[1] for r in rows)
                print(f"  {answer_t:.2f} {margin:.2f} {suggest_t:.2f}: right {mean[0]:.1%} wrong {mean[1]:.1%} (worst {worst_wrong:.1%}) oos {mean[2]:.1%}")
    coef, bias = fit([g for name in SETS for g in data[name]])
    print("fitted on all:", {n: round(float(c), 3) for n, c in zip(FEATURES, coef)}, "bias", round(bias, 3))
    for name in SETS:
        report(name, data[name], coef, bias)
    if not args.dry_run:
        RANKER_FILE.write_text(
            json.dumps({"bias": round(bias, 4), "weights": {n: round(float(c), 4) for n, c in zip(FEATURES, coef)}}, indent=2)
            + "\n",
            encoding="utf-8",
        )
        print(f"wrote {RANKER_FILE}")


if __name__ == "__main__":
    main()
