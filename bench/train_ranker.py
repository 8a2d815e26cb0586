"""Fit the matcher's models on labelled questions; write faq/data/ranker.json, prior.json and embedding.npz.

    .venv/bin/python bench/train_ranker.py            # cross-FAQ check, then fit on all and write
    .venv/bin/python bench/train_ranker.py --dry-run  # only the check
    .venv/bin/python bench/train_ranker.py --no-check # fit on all and write, without the check (minutes faster)

The ranker is a conditional logit: each question picks one of the FAQ's entries, or none of them
(out-of-scope questions). The verifier is a model of "the ranker's first choice is the right
answer" (boosted trees, scikit-learn's histogram gradient boosting: `pip install -e '.[train]'`),
fitted on what rankers trained WITHOUT that FAQ say about its questions, because that is the
situation it meets in use. The check does the same one level up: the FAQs are dealt
into five folds, and each fold is measured by models that never saw its FAQs or their questions,
which is what a new FAQ looks like.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import BotConfig  # noqa: E402
from faq.embedding import DIMENSIONS, EMBEDDING_FILE, Embedding, fit_embedding  # noqa: E402
from faq.evaluation import load_labelled  # noqa: E402
from faq.loader import load_faq  # noqa: E402
from faq.matcher import (  # noqa: E402
    FEATURES,
    RANKER_FILE,
    VERIFIER_FEATURES,
    Matcher,
    Models,
    _Query,
    softmax_with_none,
    verifier_features,
)
from faq.prior import PRIOR_FILE, QuestionPrior, fit_prior  # noqa: E402
from faq.text import clean, is_courtesy, normalize, strip_greetings  # noqa: E402
from faq.trees import NEVER, BoostedTrees  # noqa: E402

DATA = ROOT / "tests" / "data"
STARTER_FAQ = ROOT / "faq" / "data" / "faq.yaml"
# The labelled FAQs every model learns from besides the starter: the ranker, the verifier, the question
# prior (faq/prior.py) and the n-gram vectors (faq/embedding.py). Named one by one, so a labelled set
# added later stays unseen until someone decides otherwise. Left out: the starter holdout, and the
# newest FAQs (UNSEEN), the measure of FAQs no model has seen (see tests/test_accuracy.py).
LEARNED = ("other", "third", "fourth", "fifth", "sixth", "logistics", "subsidies", "retail", "factory",
           "construction", "labor", "trade", "agri", "catering", "techpark", "mining",
           "office", "food", "medical", "schools", "tourism", "auto", "garment", "chempark", "port",
           "merchant", "foreign", "electronics", "express", "eldercare", "smefinance", "hotel",
           "beauty", "venue", "transit", "heavyind", "printing", "county", "property", "pharma",
           "dyeing", "renovation", "machining", "recycling", "paper", "aquaculture",
           "zone", "autorepair", "furniture", "smepark", "coldfood", "buildmat", "shoes", "ecommerce", "livestock",
           "shipyard", "tea", "housekeeping", "solar", "toys", "ads", "wholesale",
           "distillery", "eyewear", "cosmetics", "stone", "callcenter",
           "driving", "pets", "herbs", "ebike", "childcare", "bakery", "hardware", "hospitalsupply", "mall", "farmstay",
           "wood", "mushrooms", "gyms", "cinemas", "spinning", "staffing",
           "elevator", "laundry", "seeds", "bookstore", "accounting", "parking", "bookkeeping", "waterworks",
           "grain", "ceramics", "tutoring", "flowers", "dairy", "plastics", "battery", "wetmarket", "gasstation", "luggage",
           "bathhouse", "glass", "fireworks", "carrental", "confinement", "florist", "printshop", "hvac", "lockers",
           "realty", "dental", "netcafe", "studio", "moving", "carwash", "drugstore", "taxi",
           "karaoke", "funeral", "wedding", "amusement", "usedcars", "milktea", "security",
           "jewelry", "phonerepair", "lawfirm", "escape", "gas", "foundry", "feedmill", "swimming",
           "meat", "chips", "grocery", "museums", "sanitation", "software", "rubber", "cement",
           "hospital", "bus", "hotpot", "textile", "warehouse", "moulds", "nursery", "hardwarestore")
UNSEEN = ("condiments", "beverages", "sanitaryware", "cables", "sportsgoods", "hometextiles", "fruitmarket", "carparts",
          "opticalshop", "bikeshare", "papercups", "petfood", "tyreshop", "studios", "timber", "seafood",
          "campsites", "esports", "healthfoods", "pesticides", "steelframe", "bridal", "medwholesale", "parcelhub")
# What the ranker and verifier learn from: each FAQ with one labelled file.
SETS = {
    "starter": (STARTER_FAQ, DATA / "eval_starter_dev.yaml"),
    **{name: (DATA / f"{name}_faq.yaml", DATA / f"eval_{name}.yaml") for name in LEARNED},
}
# What the prior and the vectors learn from: (labelled questions, the FAQ they ask); the starter's other sets too.
PRIOR_FILES = (
    [(DATA / f"eval_starter_{part}.yaml", STARTER_FAQ) for part in ("dev", "blind", "fresh_a", "fresh_b")]
    + [(DATA / f"eval_{name}.yaml", DATA / f"{name}_faq.yaml") for name in LEARNED]
)
# Features do not depend on the models: a Matcher built only to compute them or to cut words has none.
UNTRAINED = Models(np.zeros(len(FEATURES)), 0.0, BoostedTrees.constant(VERIFIER_FEATURES))
BLANK_PRIOR = QuestionPrior({}, {}, 0.0)
BLANK_EMBEDDING = Embedding([], np.zeros(0), np.zeros((0, DIMENSIONS)))
L2 = 1.0
OUT_OF_SCOPE_WEIGHT = 3.0  # a wrong answer costs more than a missed one
VERIFIER_OOS_WEIGHT = 1.0
# The verifier's trees: shallow and many, with a small step, as the five-fold check preferred over a
# logistic model (about one point more right answers at the same share of wrong ones).
TREES, TREE_DEPTH, TREE_STEP, TREE_LEAF, TREE_L2 = 200, 3, 0.05, 20, 1.0
THRESHOLDS = (0.7, 0.75, 0.8, 0.82, 0.84, 0.85, 0.86, 0.9)  # the check also measures the default answer_threshold
FOLDS = 5  # each FAQ's prior and closeness come from models fitted without a fifth of the FAQs; the check's folds too
VERIFIER_FOLDS = 4  # the verifier learns from rankers fitted without a quarter of the FAQs it sees


def prior_questions() -> list[tuple[Path, str, bool]]:
    """(FAQ, normalised question, out of scope) for every question the prior learns from; courtesies left out."""
    bot_name = BotConfig().name
    out = []
    for labelled, faq_path in PRIOR_FILES:
        for item in load_labelled(labelled):
            cleaned = clean(item.question, bot_name)
            if item.expect == "ignore" or not strip_greetings(cleaned) or is_courtesy(item.question, bot_name):
                continue
            out.append((faq_path, normalize(item.question, bot_name), item.expect == "escalate"))
    return out


def fit_prior_without(questions, left_out: set[Path]) -> QuestionPrior:
    """The question prior fitted on every FAQ's questions but those about the FAQs in `left_out`."""
    kept = [(text, oos) for path, text, oos in questions if path not in left_out]
    return fit_prior([t for t, _ in kept], [o for _, o in kept])


def embedding_faqs() -> dict[Path, tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[int]]]:
    """Per FAQ the n-gram vectors learn from: its entries' words, its questions' words, and each question's
    entry (-1: out of scope), all cut as the matcher cuts them (questions with typo repair and compound splitting)."""
    bot_name = BotConfig().name
    out: dict[Path, tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[int]]] = {}
    positions: dict[Path, dict[str, int]] = {}
    matchers: dict[Path, Matcher] = {}
    for labelled, faq_path in PRIOR_FILES:
        if faq_path not in out:
            # Only its cutting is used: no shipped model file is read, so a refit never depends on the last.
            matcher = matchers[faq_path] = Matcher(load_faq(faq_path), models=UNTRAINED, prior=BLANK_PRIOR,
                                                   embedding=BLANK_EMBEDDING)
            # What Matcher embeds for an entry: its phrasings' and keywords' words.
            cut = matcher.analyzer.segmenter.cut
            out[faq_path] = ([tuple(w for text in (*e.normalized, *(normalize(k) for k in e.keywords)) for w in cut(text))
                              for e in matcher.entries], [], [])
            positions[faq_path] = {e.id: i for i, e in enumerate(matcher.entries)}
        _, questions, targets = out[faq_path]
        for item in load_labelled(labelled):
            known = item.expect in positions[faq_path] or item.expect == "escalate"
            if known and strip_greetings(clean(item.question, bot_name)) and not is_courtesy(item.question, bot_name):
                questions.append(matchers[faq_path].analyze(item.question).words)
                targets.append(positions[faq_path].get(item.expect, -1))  # -1: out of scope
    return out


def fit_embedding_without(faqs, left_out: set[Path]) -> Embedding:
    """The n-gram vectors fitted on every FAQ's questions but those about the FAQs in `left_out`."""
    return fit_embedding([data for path, data in faqs.items() if path not in left_out])


def examples(name: str, prior: QuestionPrior, embedding: Embedding):
    """Per question: (label, feature matrix over every entry, entry ids); `prior` judges the question's wording."""
    faq_path, labelled = SETS[name]
    matcher = Matcher(load_faq(faq_path), models=UNTRAINED, prior=prior, embedding=embedding)
    ids = [e.id for e in matcher.entries]
    out = []
    for item in load_labelled(labelled):
        if item.expect == "ignore":
            continue
        cleaned = clean(item.question, matcher.settings.name)
        if not strip_greetings(cleaned) or is_courtesy(item.question, matcher.settings.name):
            continue
        analysis = matcher.analyze(item.question)
        if not analysis.concepts:
            continue
        oos_prior = prior.logit(normalize(item.question, matcher.settings.name))
        matrix = matcher.feature_matrix(list(range(len(ids))), _Query(analysis, matcher, oos_prior))
        out.append((item.expect, matrix, ids))
    return out


# Evidence that the question says something the entry (or the whole FAQ) does not: it may lower the
# odds of an answer, never raise them. Unconstrained fits gave words no entry uses a positive weight,
# because colloquial words in answerable questions outnumber out-of-scope ones in the data.
AGAINST = ("missing", "unknown", "unknown_share", "missing_noun", "unknown_noun", "intent_clash", "aspect_unmet",
           "term_missing", "kind_unmet", "question_prior")


# The ranker's own belief in its first choice, in each form the verifier sees: more of it never lowers the
# confidence, so a question the ranker grows surer of is never answered less readily.
RANKER_FOR = ("p1", "log_p1", "logit1", "logit_gap")


def constrained(fit, x_names: tuple[str, ...], against: tuple[str, ...]):
    """Refit with a weight held at 0 while it would come out positive for evidence that counts against."""
    keep = np.ones(len(x_names))
    watched = [x_names.index(n) for n in against]
    while True:
        coef, bias = fit(keep)
        wrong = [i for i in watched if coef[i] > 0]
        if not wrong:
            return coef, bias
        keep[wrong] = 0.0


def fit_ranker(groups) -> tuple[np.ndarray, float]:
    """The ranker, with evidence against an entry never counted for it."""
    return constrained(lambda keep: _fit_ranker(groups, keep), FEATURES, AGAINST)


def _fit_ranker(groups, keep: np.ndarray) -> tuple[np.ndarray, float]:
    """Conditional logit by Newton's method with backtracking (features where keep is 0 held out)."""
    dims = groups[0][1].shape[1] + 1
    w = np.zeros(dims)
    reg = np.full(dims, L2)
    reg[-1] = 0.0
    prepared = []
    for label, matrix, ids in groups:
        x1 = np.hstack([matrix * keep, np.ones((len(matrix), 1))])
        target = np.zeros(dims) if label not in ids else x1[ids.index(label)]
        prepared.append((x1, target, OUT_OF_SCOPE_WEIGHT if label not in ids else 1.0))
    for _ in range(100):
        grad = reg * w
        hess = np.diag(reg)
        for x1, target, weight in prepared:
            p = softmax_with_none(x1 @ w)
            mean = p @ x1
            grad += weight * (mean - target)
            hess += weight * ((x1 * p[:, None]).T @ x1 - np.outer(mean, mean))
        step = np.linalg.solve(hess, grad)
        scale, before = 1.0, _ranker_loss(prepared, w, reg)
        while _ranker_loss(prepared, w - scale * step, reg) > before and scale > 1e-6:
            scale /= 2  # Newton overshoots far from the optimum: back off
        w -= scale * step
        if np.abs(scale * step).max() < 1e-7:
            break
    return w[:-1], float(w[-1])


def _ranker_loss(prepared, w, reg) -> float:
    total = 0.5 * float(reg @ (w * w))
    for x1, target, weight in prepared:
        s = x1 @ w
        top = max(s.max(), 0.0)
        total += weight * (top + math.log(math.exp(-top) + np.exp(s - top).sum()) - float(target @ w))
    return total


def meta(groups, coef, bias):
    """Verifier inputs and targets: is the ranker's first choice the labelled answer?"""
    rows, targets, weights, outcomes = [], [], [], []
    for label, matrix, ids in groups:
        logits = matrix @ coef + bias
        probs = softmax_with_none(logits)
        top = ids[int(np.argmax(probs))]
        rows.append(verifier_features(matrix, logits, probs))
        targets.append(1.0 if top == label else 0.0)
        weights.append(VERIFIER_OOS_WEIGHT if label == "escalate" else 1.0)
        outcomes.append((label, top, float(probs.max()) - float(np.sort(probs)[-2])))
    return np.asarray(rows), np.asarray(targets), np.asarray(weights), outcomes


def folds(names: list[str], count: int) -> list[list[str]]:
    """The FAQs dealt into `count` folds, in turn."""
    return [names[k::count] for k in range(count)]


def fit_verifier(data: dict, names: list[str]) -> BoostedTrees:
    """Fit the verifier on each FAQ's questions as judged by a ranker that never saw that FAQ."""
    xs, ys, ws = [], [], []
    for held in folds(names, VERIFIER_FOLDS):
        coef, bias = fit_ranker([g for n in names if n not in held for g in data[n]])
        for name in held:
            x, y, w, _ = meta(data[name], coef, bias)
            xs.append(x), ys.append(y), ws.append(w)
    return fit_trees(np.vstack(xs), np.concatenate(ys), np.concatenate(ws))


def fit_trees(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> BoostedTrees:
    """Boosted trees in which evidence against the first choice (AGAINST) can only lower the confidence."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    against = {f"top.{n}" for n in AGAINST}
    assert against | set(RANKER_FOR) <= set(VERIFIER_FEATURES), "every constrained feature must reach the verifier"
    monotonic = [1 if n in RANKER_FOR else -1 if n in against else 0 for n in VERIFIER_FEATURES]
    model = HistGradientBoostingClassifier(
        max_iter=TREES, max_depth=TREE_DEPTH, learning_rate=TREE_STEP, min_samples_leaf=TREE_LEAF,
        l2_regularization=TREE_L2, early_stopping=False, monotonic_cst=monotonic, random_state=0,
    ).fit(x, y, sample_weight=weights)
    trees = exported(model)
    # The export reads scikit-learn's internals: it must give the very same confidences.
    drift = np.abs(trees.raw(x) - model.decision_function(x)).max()
    if drift > 1e-9:
        raise SystemExit(f"exported trees differ from scikit-learn's model by {drift:g}: check the export")
    return trees


def exported(model) -> BoostedTrees:
    """scikit-learn's fitted trees, each made complete to TREE_DEPTH (see faq/trees.py)."""
    inner = 2**TREE_DEPTH - 1
    features, thresholds, values = [], [], []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        feature, threshold, value = [0] * inner, [NEVER] * inner, [0.0] * (inner + 1)

        def fill(node: int, position: int, level: int) -> None:
            if level == TREE_DEPTH:
                assert nodes[node]["is_leaf"], "a tree deeper than TREE_DEPTH"
                value[position - inner] = float(nodes[node]["value"])
            elif nodes[node]["is_leaf"]:  # a leaf above the full depth: every path below reaches it
                fill(node, 2 * position + 1, level + 1), fill(node, 2 * position + 2, level + 1)
            else:
                feature[position] = int(nodes[node]["feature_idx"])
                threshold[position] = float(nodes[node]["num_threshold"])
                fill(int(nodes[node]["left"]), 2 * position + 1, level + 1)
                fill(int(nodes[node]["right"]), 2 * position + 2, level + 1)

        fill(0, 0, 0)
        features.append(feature), thresholds.append(threshold), values.append(value)
    return BoostedTrees(VERIFIER_FEATURES, float(np.ravel(model._baseline_prediction)[0]), TREE_DEPTH,
                        np.asarray(features, dtype=np.intp), np.asarray(thresholds), np.asarray(values))


def measure(groups, ranker, verifier, thresholds) -> dict[float, np.ndarray]:
    """Per threshold, counts: right, answerable, wrong, all, out-of-scope escalated, out of scope, top-1."""
    x, _, _, outcomes = meta(groups, *ranker)
    confidence = verifier.probabilities(x)
    answerable = [i for i, o in enumerate(outcomes) if o[0] != "escalate"]
    oos = [i for i, o in enumerate(outcomes) if o[0] == "escalate"]
    settings = BotConfig()
    margins = np.asarray([o[2] for o in outcomes])
    # As Matcher.decide: x[:, 0] is the ranker's probability of its first choice. Not modelled here:
    # decide()'s answers to listed phrasings, its suggestions for one-word topics and its minimum content.
    may_answer = (x[:, 0] >= settings.answer_min_probability) & (margins >= settings.answer_margin)
    top1 = sum(outcomes[i][0] == outcomes[i][1] for i in answerable)
    counts = {}
    for threshold in thresholds:
        answered = may_answer & (confidence >= threshold)
        right = sum(answered[i] and outcomes[i][0] == outcomes[i][1] for i in answerable)
        wrong = sum(answered[i] and outcomes[i][0] != outcomes[i][1] for i in range(len(outcomes)))
        escalated = sum(not answered[i] for i in oos)
        counts[threshold] = np.asarray([right, len(answerable), wrong, len(outcomes), escalated, len(oos), top1])
    return counts


def rates(counts: np.ndarray) -> str:
    """right (of answerable), wrong (of all), out-of-scope escalated and top-1 (of answerable), with counts."""
    right, answerable, wrong, total, escalated, oos, top1 = counts
    return (f"right {right / max(answerable, 1):.1%} ({right:.0f}/{answerable:.0f}) wrong {wrong / max(total, 1):.1%} "
            f"({wrong:.0f}/{total:.0f}) out-of-scope escalated {escalated / max(oos, 1):.1%} ({escalated:.0f}/{oos:.0f}) "
            f"top-1 {top1 / max(answerable, 1):.1%}")


def compact_lists(text: str) -> str:
    """JSON with each list of numbers or names on one line: a tree per few lines, not a number per line."""
    return re.sub(r"\[([^\[\]{}]*)\]", lambda m: "[" + ", ".join(p.strip() for p in m.group(1).split(",")) + "]", text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args()
    questions = prior_questions()
    faqs = embedding_faqs()
    names = list(SETS)
    # Each FAQ's questions are judged by a prior and n-gram vectors that never saw them, as a new FAQ's would be.
    data = {}
    for fold in folds(names, FOLDS):
        left_out = {SETS[name][0] for name in fold}
        prior, embedding = fit_prior_without(questions, left_out), fit_embedding_without(faqs, left_out)
        data.update({name: examples(name, prior, embedding) for name in fold})
    if not args.no_check:
        default = BotConfig().answer_threshold
        print(f"each fold of FAQs measured by models that never saw it (answer when confidence >= t; per FAQ at {default}):")
        table = {t: np.zeros(7) for t in sorted({*THRESHOLDS, default})}
        for test in folds(names, FOLDS):
            train = [n for n in names if n not in test]
            ranker = fit_ranker([g for n in train for g in data[n]])
            verifier = fit_verifier(data, train)
            for name in test:
                counts = measure(data[name], ranker, verifier, table)
                for t in table:
                    table[t] += counts[t]
                print(f"  {name:12} {rates(counts[default])}")
        print(f"all {len(names)} FAQs pooled:")
        for t, counts in table.items():
            print(f"  t={t:.2f}: {rates(counts)}")
    ranker = fit_ranker([g for n in names for g in data[n]])
    verifier = fit_verifier(data, names)
    print("ranker:", {n: round(float(c), 3) for n, c in zip(FEATURES, ranker[0])}, "bias", round(ranker[1], 3))
    if not args.dry_run:
        model = {
            "ranker": {"bias": round(ranker[1], 4), "weights": {n: round(float(c), 4) for n, c in zip(FEATURES, ranker[0])}},
            "verifier": verifier.to_json(),
        }
        RANKER_FILE.write_text(compact_lists(json.dumps(model, indent=1)) + "\n", encoding="utf-8")
        prior = fit_prior_without(questions, set())
        PRIOR_FILE.write_text(json.dumps(prior.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        embedding = fit_embedding_without(faqs, set())
        embedding.save(EMBEDDING_FILE)
        print(f"wrote {RANKER_FILE}, {PRIOR_FILE} ({len(questions)} questions, {len(prior.idf)} n-grams) and "
              f"{EMBEDDING_FILE} ({len(embedding.ngrams)} n-grams)")


if __name__ == "__main__":
    main()
