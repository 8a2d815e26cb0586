"""The learned n-gram vectors: fitting, saving, what the shipped ones learned, and how the matcher uses them."""
from __future__ import annotations

import numpy as np

from faq.embedding import Embedding, fit_embedding, load_embedding
from faq.loader import load_faq
from faq.matcher import FEATURES, Matcher, load_models
from faq.text import normalize, segmenter
from tests.conftest import ROOT, STARTER_FAQ, train_ranker


def words(text: str) -> tuple[str, ...]:
    return segmenter().cut(normalize(text))


ENTRIES = [words(t) for t in ("宿舍住几个人 宿舍怎么安排", "食堂怎么吃饭 食堂就餐要求", "班车怎么坐 班车接送员工")]
# Questions in words no entry uses: only fitting can tie 上下铺 to the dormitory and 盒饭 to the canteen.
QUESTIONS = [words(t) for t in ("上下铺能睡满吗", "上下铺住几个", "上下铺要隔开不", "盒饭能发到工位吗", "盒饭送到车间",
                                "大巴车坐满不", "大巴车能坐几个")]
TARGETS = [0, 0, 0, 1, 1, 2, 2]


def closest(embedding: Embedding, question: str) -> int:
    return int(np.argmax(embedding.embed_many(ENTRIES) @ embedding.embed(words(question))))


def test_fitting_ties_words_no_entry_uses_to_the_entry_they_ask_about():
    before = fit_embedding([(ENTRIES, QUESTIONS, TARGETS)], min_df=1, steps=0)
    after = fit_embedding([(ENTRIES, QUESTIONS, TARGETS)], min_df=1)
    for question, target in (("上下铺睡几个人", 0), ("盒饭怎么发", 1), ("大巴车安排", 2)):
        assert closest(after, question) == target, question
    assert [closest(before, q) for q in ("上下铺睡几个人", "盒饭怎么发")] != [0, 1]


def test_an_out_of_scope_question_is_fitted_away_from_every_entry():
    oos = [words(t) for t in ("发票开错了咋办", "发票丢了", "发票怎么重开")]
    plain = fit_embedding([(ENTRIES, QUESTIONS + oos, TARGETS + [0, 1, 2])], min_df=1)
    fitted = fit_embedding([(ENTRIES, QUESTIONS + oos, TARGETS + [-1, -1, -1])], min_df=1)

    def nearest(embedding):
        return float((embedding.embed_many(ENTRIES) @ embedding.embed(words("发票能重开吗"))).max())

    assert nearest(fitted) < nearest(plain)


def test_vectors_are_unit_length_and_an_unknown_text_gets_zeros():
    embedding = fit_embedding([(ENTRIES, QUESTIONS, TARGETS)], min_df=1, steps=5)
    texts = [("宿舍",), ("食堂", "就餐"), ("ⅩⅩ",), ()] * 300  # several chunks
    vectors = embedding.embed_many(texts)
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)
    assert not vectors[2].any() and not vectors[3].any()
    assert np.allclose(vectors[:4], vectors[-4:])
    for text, vector in zip(texts[:4], vectors):
        assert np.allclose(embedding.embed(text), vector, atol=1e-5)  # one at a time, as a question is


def test_saving_keeps_closeness(tmp_path):
    embedding = fit_embedding([(ENTRIES, QUESTIONS, TARGETS)], min_df=1, steps=20)
    embedding.save(tmp_path / "e.npz")
    loaded = load_embedding(tmp_path / "e.npz")
    assert loaded.ngrams == embedding.ngrams
    for question in QUESTIONS:
        assert np.allclose(loaded.embed(question), embedding.embed(question), atol=2e-3)


def test_the_shipped_vectors_are_what_the_labelled_sets_named_for_them_give():
    train = train_ranker()
    faqs = train.embedding_faqs()
    unseen = {ROOT / "tests" / "data" / f"{name}_faq.yaml" for name in train.UNSEEN}
    assert not unseen & set(faqs) and STARTER_FAQ in set(faqs)
    refit, shipped = train.fit_embedding_without(faqs, set()), load_embedding()
    assert refit.ngrams == shipped.ngrams  # no other set's words slipped in
    for _, questions, _ in faqs.values():
        for question in questions[::40]:
            assert np.allclose(refit.embed(question), shipped.embed(question), atol=2e-3), question


def test_the_shipped_vectors_put_a_colloquial_question_nearest_its_entry():
    matcher = Matcher(load_faq(STARTER_FAQ))
    ids = [e.id for e in matcher.entries]
    for question, expected in (("上下铺能睡满不", "dormitory.management"), ("外面的人能进厂不", "visitor.management"),
                               ("老乡回来要关几天", "isolation.returning-staff")):
        closeness = matcher.entry_vectors @ matcher.embedding.embed(matcher.analyze(question).words)
        assert ids[int(np.argmax(closeness))] == expected, question


def test_the_ranker_counts_closeness_for_an_entry():
    weights = dict(zip(FEATURES, load_models().rank_coef))
    assert weights["learned_similarity"] > 0 and weights["similarity_gap"] > 0


def test_a_few_new_words_get_the_vectors_a_batch_gives_them():
    words = ["上下铺", "外面的人", "消毒液", "复工", "乙"]
    one_by_one, batch = load_embedding(), load_embedding()
    small = one_by_one.word_vectors(words)  # five new words: summed one by one
    large = batch.word_vectors(words + [f"词{i}" for i in range(20)])[: len(words)]  # 25: as a batch
    assert np.allclose(small, large, atol=1e-6)
    assert np.abs(small).sum() > 0


def test_embedding_apart_then_remembering_is_embedding_many():
    """What a child process computes for the parent's load: the same vectors and, once remembered, the same cache."""
    texts = [words(t) for t in ("宿舍住几个人 宿舍怎么安排", "食堂怎么吃饭", "班车接送员工 员工返岗")] * 5
    whole, apart = load_embedding(), load_embedding()
    apart.remember(*apart.embed_many_apart(texts[:1])[1:])  # some words already cached, as in a reload
    whole.remember(*whole.embed_many_apart(texts[:1])[1:])
    cached_before = {w: v.copy() for w, v in apart._words.items()}
    vectors, text_words, word_vectors = apart.embed_many_apart(texts)
    assert apart._words.keys() == cached_before.keys()  # untouched until remembered
    assert all(np.array_equal(apart._words[w], v) for w, v in cached_before.items())
    assert text_words == list(dict.fromkeys(w for text in texts for w in text))
    apart.remember(text_words, word_vectors)
    assert np.array_equal(vectors, whole.embed_many(texts))
    assert apart._words.keys() == whole._words.keys()
    assert all(np.array_equal(apart._words[w], whole._words[w]) for w in whole._words)


def test_an_faqs_vectors_do_not_depend_on_what_was_asked_before():
    """A word a question brought is summed alone, a last bit apart from a batch: the FAQ's vectors ignore it."""
    texts = [words(t) for t in ("宿舍住几个人 宿舍怎么安排", "食堂怎么吃饭", "班车接送员工 员工返岗")] * 5
    asked, fresh = load_embedding(), load_embedding()
    for text in texts:
        for word in text:
            asked.embed([word])  # one new word at a time: each summed alone
    assert np.array_equal(asked.embed_many(texts), fresh.embed_many(texts))
