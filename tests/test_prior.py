"""The question prior: how out of scope a question looks from its wording alone."""
import json
from pathlib import Path

from faq.loader import load_faq
from faq.matcher import FEATURES, VERIFIER_FEATURES, Matcher, load_models, verifier_features
from faq.prior import QuestionPrior, fit_prior, grams, load_prior, vector
from faq.text import normalize
from tests.conftest import train_ranker

ROOT = Path(__file__).resolve().parent.parent


def test_grams_stay_within_a_clause():
    counts = grams("口罩 够用")
    assert counts["口罩"] == 1 and counts["够用"] == 1 and "罩够" not in counts
    assert grams("消毒消毒")["消毒"] == 2


def test_fitting_learns_which_wording_is_out_of_scope():
    in_scope = ["车间一天消毒几次", "食堂要分餐吗", "员工返岗要隔离几天", "口罩多久换一次", "宿舍怎么消毒", "班车要消毒吗"]
    out_of_scope = ["驾照到期了能延期吗", "驾照过期了咋办", "个税什么时候申报", "个税能晚点交吗", "驾照年审还搞吗", "个税怎么算"]
    prior = fit_prior(in_scope + out_of_scope, [False] * len(in_scope) + [True] * len(out_of_scope), min_df=1)
    assert prior.logit("驾照要换吗") > 0 > prior.logit("厂车多久消毒")
    assert prior.logit("个税") > prior.logit("消毒")


def test_the_logit_is_the_fitted_weights_times_the_questions_vector():
    prior = load_prior()
    for text in ("车间一天消毒几次", "补贴 补贴报上去了啥时候到账", "消毒消毒消毒", "没见过的话", ""):
        expected = prior.bias + sum(v * prior.weights.get(g, 0.0) for g, v in vector(grams(text), prior.idf).items())
        assert abs(prior.logit(text) - expected) < 1e-12, text


def test_json_round_trip_keeps_every_answer(tmp_path):
    prior = fit_prior(["食堂要分餐吗", "驾照过期了", "食堂分餐", "驾照年审"], [False, True, False, True], min_df=1)
    path = tmp_path / "prior.json"
    path.write_text(json.dumps(prior.to_json(), ensure_ascii=False), encoding="utf-8")
    again = load_prior(path)
    for text in ("食堂", "驾照到期", "没见过的话", ""):
        assert abs(again.logit(text) - prior.logit(text)) < 1e-3


def test_shipped_prior_finds_case_work_less_likely_to_be_in_the_faq():
    prior = load_prior()
    faq_like = ["车间一天消毒几次", "员工就餐是否分开", "外地回来的员工要隔离几天"]
    case_work = ["补贴报上去了啥时候到账", "营业执照丢了咋补办", "公示名单里没有我们公司，咋申诉"]
    assert min(prior.logit(normalize(q)) for q in case_work) > max(prior.logit(normalize(q)) for q in faq_like)


def test_the_models_count_the_prior_only_against_an_answer():
    models = load_models()
    assert dict(zip(FEATURES, models.rank_coef))["question_prior"] < 0
    matcher = Matcher(load_faq(ROOT / "faq" / "data" / "faq.yaml"))
    column = VERIFIER_FEATURES.index("top.question_prior")
    for question in ("员工就餐是否分开", "厂区一天消毒几次", "营业执照丢了咋补办"):
        row = verifier_row(matcher, question)
        confidences = []
        for value in (-4.0, -1.0, 0.0, 1.0, 4.0):
            row[column] = value
            confidences.append(models.verifier.probability(row))
        assert confidences == sorted(confidences, reverse=True), question


CASE_WORK_FAQ = """version: 1
categories:
  - {id: finance, name: 金融支持, team: 金融供给组}
entries:
  - id: subsidy.payout
    category: finance
    question: 防疫补贴什么时候到账？
    alternates: [补贴多久能发下来, 申请的补贴几天到账, 补贴资金啥时候拨付, 补贴审核通过后多久打款]
    answer: 补贴经区财政局审核通过后，10个工作日内拨付到企业对公账户。
  - id: license.lost
    category: finance
    question: 营业执照丢了怎么补办？
    alternates: [执照遗失补领, 营业执照弄丢了咋办, 执照补发流程]
    answer: 营业执照遗失的，可在市场监管局网上登记平台申请补领，无需登报，3个工作日内办结。
"""


def test_what_looks_like_case_work_is_answered_where_the_faq_covers_it(tmp_path):
    path = tmp_path / "faq.yaml"
    path.write_text(CASE_WORK_FAQ, encoding="utf-8")
    matcher = Matcher(load_faq(path))
    assert matcher.prior.logit(normalize("防疫补贴报上去了啥时候能到账")) > matcher.prior.logit(normalize("车间一天消毒几次"))
    for question, entry in (("防疫补贴报上去了啥时候能到账", "subsidy.payout"), ("执照丢了咋补", "license.lost")):
        decision = matcher.decide(question)
        assert (decision.kind, decision.faq_id) == ("answer", entry)


def test_a_question_that_looks_out_of_scope_needs_more_to_be_answered():
    matcher = Matcher(load_faq(ROOT / "faq" / "data" / "faq.yaml"))
    question = "员工就餐是否分开"
    plain = matcher._score(matcher.analyze(question), 0.0)
    doubted = matcher._score(matcher.analyze(question), 3.0)
    assert doubted[3].max() < plain[3].max()  # the ranker's probability of its first choice
    assert matcher.confidence(*doubted[1:]) < matcher.confidence(*plain[1:])


def test_the_prior_never_learned_from_the_sets_that_measure_unseen_faqs():
    train = train_ranker()
    learned = {labelled.name for labelled, _ in train.PRIOR_FILES}
    assert "eval_starter_holdout.yaml" not in learned
    assert not {f"eval_{name}.yaml" for name in train.UNSEEN} & learned
    assert {"eval_starter_dev.yaml", "eval_office.yaml", "eval_electronics.yaml"} <= learned
    assert all(labelled.exists() and faq.exists() for labelled, faq in train.PRIOR_FILES)
    assert all((ROOT / "tests" / "data" / f"eval_{name}.yaml").exists() for name in train.UNSEEN)


def test_the_ranker_and_verifier_never_learned_from_the_sets_that_measure_unseen_faqs():
    train = train_ranker()
    learned = {labelled.name for _, labelled in train.SETS.values()}
    assert "eval_starter_holdout.yaml" not in learned
    assert not {f"eval_{name}.yaml" for name in train.UNSEEN} & learned
    assert learned <= {labelled.name for labelled, _ in train.PRIOR_FILES}  # what the prior and vectors learn from


def test_the_shipped_prior_is_what_the_labelled_questions_give():
    train = train_ranker()
    questions = train.prior_questions()
    refit, shipped = train.fit_prior_without(questions, set()), load_prior()
    assert set(refit.idf) == set(shipped.idf)
    for _, text, _ in questions[::50]:
        assert abs(refit.logit(text) - shipped.logit(text)) < 0.01, text


def verifier_row(matcher: Matcher, question: str):
    """What the verifier sees for a question's first choice."""
    _, matrix, logits, probs = matcher._score(matcher.analyze(question), 0.0)
    return verifier_features(matrix, logits, probs)


def test_an_empty_question_gets_the_base_rate():
    prior = QuestionPrior({"口罩": 1.0}, {"口罩": -2.0}, -1.5)
    assert prior.logit("") == -1.5 and prior.logit("口罩") == -3.5
