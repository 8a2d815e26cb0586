"""The verifier's boosted trees: stored as JSON, walked with numpy, the same as scikit-learn's."""
import json

import numpy as np
import pytest

from faq.loader import load_faq
from faq.matcher import VERIFIER_FEATURES, Matcher, load_models, verifier_features
from faq.trees import NEVER, BoostedTrees
from tests.conftest import STARTER_FAQ, train_ranker

NAMES = ("a", "b", "c")


def two_trees() -> BoostedTrees:
    """Depth 2. First tree: a <= 1 ? (b <= 0 ? -1 : -0.5) : (c <= 5 ? 0.5 : 1). Second: c <= 3 ? 0.2 : 0.7."""
    return BoostedTrees(
        NAMES, 0.5, 2,
        np.array([[0, 1, 2], [2, 0, 0]]),
        np.array([[1.0, 0.0, 5.0], [3.0, NEVER, NEVER]]),
        np.array([[-1.0, -0.5, 0.5, 1.0], [0.2, 0.2, 0.7, 0.7]]),
    )


def test_each_row_walks_every_tree_to_its_leaf():
    rows = np.array([[0.0, -1.0, 0.0], [2.0, 0.0, 6.0], [1.0, 0.1, 3.0]])
    assert two_trees().raw(rows) == pytest.approx([0.5 - 1.0 + 0.2, 0.5 + 1.0 + 0.7, 0.5 - 0.5 + 0.2])
    assert two_trees().probability(rows[1]) == pytest.approx(1 / (1 + np.exp(-2.2)))


def test_json_matches_features_by_name():
    stored = json.loads(json.dumps(two_trees().to_json()))
    reordered = BoostedTrees.from_json(stored, ("c", "a", "b"))
    rows = np.array([[0.0, -1.0, 0.0], [2.0, 0.0, 6.0], [1.0, 0.1, 3.0]])
    assert reordered.raw(rows[:, [2, 0, 1]]) == pytest.approx(two_trees().raw(rows))


def test_a_model_using_a_feature_the_code_lacks_is_refused():
    with pytest.raises(ValueError, match="'c'"):
        BoostedTrees.from_json(two_trees().to_json(), ("a", "b"))


def test_a_model_file_of_another_kind_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match="refit with bench/train_ranker.py"):
        BoostedTrees.from_json({"bias": -1.2, "weights": {"p1": 1.4}}, NAMES)


def test_no_trees_give_the_base_rate():
    assert BoostedTrees.constant(NAMES).probability(np.array([1.0, 2.0, 3.0])) == 0.5


def test_exported_trees_give_scikit_learns_log_odds_on_new_rows():
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = train_ranker()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, len(VERIFIER_FEATURES)))
    y = (x[:, 0] + 0.5 * x[:, 3] - x[:, 7] * x[:, 8] > 0).astype(float)
    # Large leaves stop some branches above the full depth: those are padded on export.
    model = HistGradientBoostingClassifier(max_iter=30, max_depth=train.TREE_DEPTH, min_samples_leaf=150,
                                           early_stopping=False, random_state=0).fit(x, y)
    shallow = sum(bool(node["is_leaf"]) and node["depth"] < train.TREE_DEPTH
                  for (predictor,) in model._predictors for node in predictor.nodes)
    assert shallow > 0
    fresh = rng.normal(size=(300, len(VERIFIER_FEATURES)))
    assert np.abs(train.exported(model).raw(fresh) - model.decision_function(fresh)).max() < 1e-9


def test_fitted_trees_never_let_evidence_against_raise_the_confidence():
    train = train_ranker()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1500, len(VERIFIER_FEATURES)))
    kind = VERIFIER_FEATURES.index("top.kind_unmet")
    # Noise in which more evidence against goes with more right answers: the fit must not learn it.
    y = (x[:, 0] + 0.3 * x[:, kind] + rng.normal(scale=0.5, size=len(x)) > 0).astype(float)
    trees = train.fit_trees(x, y, np.ones(len(x)))
    assert_monotonic(trees, x[:50], kind, falling=True)
    assert_monotonic(trees, x[:50], 0, falling=False)


def test_the_shipped_verifier_counts_evidence_against_only_against_and_the_rankers_belief_only_for():
    train = train_ranker()
    verifier = load_models().verifier
    matcher = Matcher(load_faq(STARTER_FAQ))
    rows = []
    for question in ("员工就餐是否分开", "厂区一天消毒几次", "回哈员工是否先隔离", "营业执照丢了咋补办", "口罩"):
        _, matrix, logits, probs = matcher._score(matcher.analyze(question), 0.0)
        rows.append(verifier_features(matrix, logits, probs))
    for name in train.AGAINST:
        assert_monotonic(verifier, np.array(rows), VERIFIER_FEATURES.index(f"top.{name}"), falling=True)
    for name in train.RANKER_FOR:
        assert_monotonic(verifier, np.array(rows), VERIFIER_FEATURES.index(name), falling=False)


def test_a_surer_ranker_never_makes_the_shipped_verifier_less_sure():
    # p1 and its log and logit rise together: swept as one, the confidence must not fall.
    verifier = load_models().verifier
    matcher = Matcher(load_faq(STARTER_FAQ))
    _, matrix, logits, probs = matcher._score(matcher.analyze("返岗员工隔离期间的工资谁出"), 0.0)
    row = verifier_features(matrix, logits, probs)
    swept = np.repeat(row[None, :], 40, axis=0)
    p1 = np.linspace(0.05, 0.99, 40)
    rise = np.log(p1 / row[VERIFIER_FEATURES.index("p1")])  # the first logit's rise that gives such a p1
    swept[:, VERIFIER_FEATURES.index("p1")] = p1
    swept[:, VERIFIER_FEATURES.index("log_p1")] = np.log(p1)
    swept[:, VERIFIER_FEATURES.index("logit1")] += rise
    swept[:, VERIFIER_FEATURES.index("logit_gap")] += rise
    assert (np.diff(verifier.probabilities(swept)) >= -1e-12).all()


def assert_monotonic(trees: BoostedTrees, rows: np.ndarray, column: int, falling: bool) -> None:
    """Sweeping one feature of each row, the probability moves one way only."""
    for row in rows:
        swept = np.repeat(row[None, :], 21, axis=0)
        swept[:, column] = np.linspace(-5, 5, 21)
        change = np.diff(trees.probabilities(swept))
        assert (change <= 1e-12).all() if falling else (change >= -1e-12).all()
