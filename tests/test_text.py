"""Normalisation, courtesy detection and segmentation."""
import os
import random
import stat
import tempfile
import time
import unicodedata

import jieba
import marisa_trie
import pytest

from faq import cache, pinyin
from faq.pinyin import pinyin_key, tables
from faq.text import DATA_DIR as DATA
from faq.text import USER_DICT, Segmenter, jieba_dictionary
from faq.text import (NOT_NOUNS_FILE, clean, is_courtesy, jieba_not_nouns, join_separable_verbs, normalize, normalize_many,
                      segmenter, strip_symbols, to_nfkc, to_simplified)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("厂区一天消毒几次？", "厂区一天消毒几次"),
        ("ＡＢＣ１２３，測溫槍", "abc123 测温枪"),  # full-width to half-width, traditional to simplified
        ("員工返廠要隔離嗎", "员工返厂要隔离吗"),
        ("75%酒精可以吗？？", "75%酒精可以吗"),
        ("口罩👍👍[强][抱拳]", "口罩"),
    ],
)
def test_clean(raw, expected):
    assert clean(raw) == expected


def test_mentions_of_the_bot_and_of_anyone_are_stripped():
    assert normalize("@防疫助手 食堂能开吗", "防疫助手") == "食堂能开吗"
    assert normalize("@防疫助手食堂能开吗", "防疫助手") == "食堂能开吗"  # no space after the bot's name
    # WeChat separates a mention from the text with U+2005.
    assert normalize("@张指导员\u2005食堂能开吗", "防疫助手") == "食堂能开吗"
    assert normalize("食堂能开吗 @李四", "防疫助手") == "食堂能开吗"
    assert normalize("@小助手 食堂能开吗", "小助手") == "食堂能开吗"


def test_many_texts_normalised_at_once_are_each_normalised():
    texts = ["回哈員工是否先隔離", "廠區一天消毒幾次？", "", "乾淨\n乾隆", "@防疫助手 您好，請問一下：髮廊能開嗎",
             "@张三\u2005车间消一次毒要多久", "１２３ＡＢＣ口罩", "\n", "测温[微笑]37.3度算发烧吗"]
    for bot_name in ("", "防疫助手"):
        assert normalize_many(texts, bot_name) == [normalize(text, bot_name) for text in texts]
    assert normalize_many([]) == []


def test_greetings_are_removed_but_never_the_whole_question():
    assert normalize("@防疫助手 您好，请问一下员工就餐是否分开", "防疫助手") == "员工就餐是否分开"
    assert normalize("领导好，打扰一下，厂车要消毒吗？谢谢！") == "厂车要消毒吗"
    assert normalize("您好") == "您好"
    assert normalize("各位领导好，我们食堂能开吗") == "我们食堂能开吗"  # no stray 好 left of 各位领导好


@pytest.mark.parametrize(
    "text", ["收到", "收到，谢谢领导！", "好的好的👍", "[强][强]", "[图片]", "辛苦了🙏", "OK", "嗯嗯", "感谢指导员！", "明白了，马上落实",
             "好的，多久都行", "收到，什么时候都可以", "谢谢，哪天都没关系", "已阅", "已转发到车间群", "已通知各班组",
             "已填报，谢谢", "已上报", "已提交，辛苦了", "收到，但愿疫情早日结束", "谢谢，被照顾得很周到",
             "已通知，员工都没发烧", "收到，今天无人发热", "已安排，未发现疑似", "收到，员工均无发热、咳嗽、乏力等症状",
             "收到，员工均无症状", "收到，会加强感染防控", "收到，没有员工出现发热", "收到，体温异常人数为0",
             "收到，员工体温都在36.5度左右", "收到，不发烧的可以上班",
             "已上报，今日全员体温正常", "已报备，员工均无发热", "已填报，今天无异常",
             "已上报，员工均无发热、咳嗽、乏力等症状", "已報備，員工均無發熱"]
)
def test_courtesies(text):
    assert is_courtesy(text)


@pytest.mark.parametrize("text", ["收到，那食堂还能开吗", "好的，员工发烧怎么办", "谢谢！口罩不够用了", "谢谢，车间多久消毒一次",
                                  "收到，何时开会", "已转人工了吗", "已通知员工，可口罩不够用",
                                  "已提交了材料，审核没通过", "已报备三天了，一直没反应",
                                  "已报备了，车还是被拦下来", "已上报，但社区不认", "已登记，有个员工核酸阳性",
                                  "已报备，门卫不让进", "已提交材料，麻烦尽快审批", "已上报社区，一直没人来",
                                  "已填写健康申报，二维码打不开", "收到，审核没通过",
                                  "已转发，有员工阳性", "好的，有个员工咳嗽", "已阅，隔壁厂确诊了", "收到没问题，员工发烧了",
                                  "收到，不过有员工发烧", "收到，非本厂员工确诊", "收到，隔壁不远的厂确诊了", "收到，员工体温38度",
                                  "已上报，有员工核酸异常", "收到，健康码变红码", "收到，没有发热，有员工咳嗽",
                                  "收到，未发现疑似，但有一人发烧", "好的，员工说发烧38.2℃",
                                  "已上报，体温都正常，但有一人咳嗽", "已上报，体温正常的员工能复工吗",
                                  "已报备，一切正常，可是货车进不来", "已上报，员工无发热，口罩不够了",
                                  "已报备，员工均无发热，请安排核酸检测", "已上报，检测无异常，门卫不让进",
                                  "已上报，体温正常，有一员工身体不适", "已完成整改，加强发热监测，申请复查验收",
                                  "已上报员工都正常口罩快用完了", "已提交，一切正常，只是通行证还没下来",
                                  "已 上报，员工都正常，门卫不让进"])
def test_questions_are_not_courtesies(text):
    assert not is_courtesy(text)


def jieba_over(seg):
    """jieba's own Tokenizer, reading the same dictionary as our Segmenter."""
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = seg.dictionary(), seg.total, True
    return tokenizer


def test_segmenter_cuts_exactly_like_jieba_without_hmm():
    seg = segmenter()
    tokenizer = jieba_over(seg)
    texts = [
        "回哈员工是否先隔离", "84消毒液和75%酒精哪个好", "kn95口罩可以重复用吗", "员工健康打卡怎么弄",
        "COVID-19 复工 a b", "密切接触者要集中隔离十四天吗", "测温枪不够用了找谁",
    ]
    for text in texts:
        expected = tuple(w for w in tokenizer.cut(text, HMM=False) if w.strip())
        assert seg.cut(text) == expected


def test_the_dictionary_is_jiebas_own_with_the_user_dictionary():
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    with open(USER_DICT, "rb") as handle:  # jieba leaves a file it opened itself unclosed
        tokenizer.load_userdict(handle)
    seg = Segmenter(synonyms=False)
    assert seg.dictionary() == tokenizer.FREQ
    assert seg.total == tokenizer.total


def test_a_missing_or_broken_dictionary_cache_is_written_again(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    trie, counts = jieba_dictionary.__wrapped__()
    folder = tmp_path / f"fuyi-bot-{os.getuid()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # this user's alone
    cached = list(folder.glob("jieba-*"))
    assert sorted(p.suffix for p in cached) == [".counts", ".trie"]
    words = trie.keys()[:1000]
    expected = [counts[trie[w]] for w in words], counts[-1]
    next(p for p in cached if p.suffix == ".trie").write_bytes(b"not a trie")
    trie, counts = jieba_dictionary.__wrapped__()
    assert ([counts[trie[w]] for w in words], counts[-1]) == expected
    assert not list(folder.glob("*.tmp"))
    mapped = marisa_trie.Trie()
    mapped.mmap(str(next(p for p in cached if p.suffix == ".trie")))  # whole again, as the next start reads it
    assert len(mapped) == len(trie)


def test_a_dictionary_cache_that_cannot_be_written_still_gives_the_dictionary(tmp_path, monkeypatch, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(blocked / "tmp"))  # under a file: nothing can be written there
    trie, counts = jieba_dictionary.__wrapped__()
    assert counts[trie["口罩"]] > 0 and len(counts) == len(trie) + 1
    assert "no cache of tables between runs" in caplog.text
    assert list(tmp_path.iterdir()) == [blocked]


def test_a_dictionary_cache_directory_others_may_write_to_is_not_trusted(tmp_path, monkeypatch, caplog):
    # Another user could have planted a forged dictionary in it: it is neither read nor written.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"fuyi-bot-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)
    trie, counts = jieba_dictionary.__wrapped__()
    assert counts[trie["口罩"]] > 0 and len(counts) == len(trie) + 1
    assert "is not a directory of this user's alone" in caplog.text
    assert list(shared.iterdir()) == []


def test_domain_dictionary_keeps_domain_words_whole():
    words = segmenter().cut(normalize("驻厂员说健康打卡要用测温枪，84消毒液消杀"))
    for word in ("驻厂员", "健康打卡", "测温枪", "84消毒液", "消杀"):
        assert word in words
    default = list(jieba.Tokenizer().cut("健康打卡", HMM=False))
    assert default != ["健康打卡"]  # the user dictionary is what keeps it whole


def test_the_shipped_list_of_words_that_are_no_nouns_is_jiebas_dictionary():
    """faq/data/jieba_not_nouns.txt is read instead of jieba's 349,046 tags; after a jieba upgrade, write
    it again: NOT_NOUNS_FILE.write_text("\\n".join(jieba_not_nouns()) + "\\n", encoding="utf-8")."""
    assert NOT_NOUNS_FILE.read_text(encoding="utf-8").split() == jieba_not_nouns()


@pytest.mark.parametrize("word, noun_like", [
    ("口罩", True), ("通风", True), ("测温枪", True), ("复工证明", True),  # nouns; words jieba does not know
    ("消毒", True), ("检测", True),  # verbal nouns (vn)
    ("隔离", False), ("需要", False), ("怎么", False), ("可以", False), ("口", False),  # verbs, a pronoun, a conjunction, one character
])
def test_noun_like_words_are_what_a_question_is_about(word, noun_like):
    assert segmenter().is_noun_like(word) is noun_like


def test_pinyin_key_ignores_tones():
    assert pinyin_key("消读") == pinyin_key("消毒") == "xiao du"
    assert pinyin_key("绿码") == "lv ma"  # ü as v, as pypinyin's Style.NORMAL writes it


def test_pinyin_key_reads_as_lazy_pinyin_does():
    """The fast path reads pypinyin's tables itself: it must agree with lazy_pinyin, phrases and polyphones too."""
    from pypinyin import Style, lazy_pinyin
    from pypinyin.constants import PHRASES_DICT

    text = "".join(ch for ch in (DATA / "faq.yaml").read_text(encoding="utf-8") if "\u4e00" <= ch <= "\u9fff")
    windows = {text[i : i + n] for n in (1, 2, 3, 4) for i in range(0, len(text) - n, 7)}
    windows |= {"重新开工", "银行", "行走", "长期", "长大", "乐观", "音乐", "朝阳", "朝代", "了解", "好了"}
    rng = random.Random(11)  # and windows of any characters, as typos bring: most start no phrase
    windows |= {"".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(rng.randint(2, 4))) for _ in range(3000)}
    assert len(windows) > 5000
    assert not any(len(phrase) == 1 for phrase in PHRASES_DICT)  # what pinyin_key's shortcut relies on
    for window in windows:
        assert pinyin_key(window) == " ".join(lazy_pinyin(window, style=Style.NORMAL, errors="ignore")), window


def test_pinyin_tables_missing_or_broken_are_written_again_and_built_in_memory_without_a_cache(tmp_path, monkeypatch, caplog):
    keys = ["消毒", "重新", "银行", "乐观", pinyin._CHAR + "一", pinyin._CHAR + "行", pinyin._PREFIX + "银", pinyin._PREFIX + "重新"]
    read = lambda trie: {key: trie.get(key) for key in keys}  # noqa: E731
    expected = read(tables())  # this process's own, before the temporary directory moves
    assert all(value is not None for value in expected.values())
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert read(pinyin.tables.__wrapped__()) == expected  # built, and written
    (written,) = (tmp_path / f"fuyi-bot-{os.getuid()}").glob("pinyin-*.trie")
    assert read(pinyin.tables.__wrapped__()) == expected  # mapped from the file
    broken = tmp_path / "broken"
    broken.write_bytes(b"not a trie")
    os.replace(broken, written)  # as a write is put in place (the file mapped above stays whole)
    assert read(pinyin.tables.__wrapped__()) == expected  # built and written again
    mapped = marisa_trie.BytesTrie()
    mapped.mmap(str(written))  # whole again, as the next start reads it
    assert read(mapped) == expected
    monkeypatch.setattr(tempfile, "tempdir", str(written))  # under a file: no cache directory at all
    assert read(pinyin.tables.__wrapped__()) == expected
    assert "no cache of tables between runs" in caplog.text


def test_tables_of_other_keys_go_once_no_process_has_used_them_for_a_week(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = cache.private_dir()
    week_ago = time.time() - cache.STALE_SECONDS - 60
    stale, recent, partial = folder / "pinyin-0000.trie", folder / "pinyin-1111.trie", folder / "pinyin-2222.trie.1.2.tmp"
    other_table = folder / "jieba-0000.trie"
    for file in (stale, recent, partial, other_table):
        file.write_bytes(b"an older key's table")
    for file in (stale, partial, other_table):
        os.utime(file, (week_ago, week_ago))
    pinyin.tables.__wrapped__()  # this key's written
    (written,) = set(folder.glob("pinyin-*.trie")) - {recent}
    assert not stale.exists() and not partial.exists()
    assert recent.exists() and other_table.exists()  # used this week (another checkout's, say); not a pinyin table
    os.utime(written, (week_ago, week_ago))
    pinyin.tables.__wrapped__()  # mapped: marked as used
    assert written.stat().st_mtime > time.time() - 60


def test_a_cache_file_that_cannot_be_put_in_place_is_logged_and_the_table_still_given(tmp_path, monkeypatch, caplog):
    expected = tables().get("银行")  # this process's own, before the temporary directory moves
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("PYPINYIN_NO_PHRASES", raising=False)
    folder = cache.private_dir()
    target = folder / f"pinyin-{cache.key_of(*pinyin.TABLES, also='')}.trie"
    target.mkdir()  # a directory where the file would go: the rename fails
    built = pinyin.tables.__wrapped__()
    assert built.get("银行") == expected == [b"yin hang"]
    assert "could not write the cache file" in caplog.text
    assert not list(folder.glob("*.tmp")) and target.is_dir()


def test_to_nfkc_is_unicode_nfkc():
    """The shortcut for full-width punctuation must give exactly NFKC, composing characters and all."""
    texts = [
        (DATA / "faq.yaml").read_text(encoding="utf-8"),
        "Ｎ９５口罩，８４消毒液：１：１００稀释　（约５０ｍｌ），水温４０℃以下",
        "ａ\u0301ｅ\u0300 caf\u00e9 ｶﾀｶﾅ ㈱ ① ㎡ ﬁ ᄀ\u1161 한 …",
        "".join(chr(code) for code in range(0x20, 0x3000, 3)),
        "".join(chr(code) for code in range(0xF900, 0xFFEF)),
    ]
    for text in texts + [t[i : i + 40] for t in texts for i in range(0, len(t), 37)]:
        assert to_nfkc(text) == unicodedata.normalize("NFKC", text)


def test_symbols_and_traditional_characters():
    assert strip_symbols("a_b") == "a b"
    assert to_simplified("體溫") == "体温"


def test_an_faqs_words_stay_with_that_faq():
    base = segmenter()
    assert base.cut("复工专员") != ("复工专员",)
    with_word = base.with_words(["复工专员"])
    assert with_word.cut("复工专员") == ("复工专员",)
    assert base.cut("复工专员") != ("复工专员",)  # the shared segmenter is untouched
    assert base.with_words(["口罩"]) is base  # nothing new: shared, cache and all


@pytest.mark.parametrize("split, joined", [
    ("厕所多久消一次毒", "厕所多久消毒一次"),
    ("员工每天打两次卡", "员工每天打卡两次"),
    ("请了假的员工要隔离吗", "请假了的员工要隔离吗"),
    ("测个温要多久", "测温要多久"),
    ("车间消过毒了吗", "车间消毒过了吗"),
])
def test_a_verb_split_around_a_measure_word_is_joined(split, joined):
    assert join_separable_verbs(split) == joined
    assert normalize(split) == joined


@pytest.mark.parametrize("text", [
    "开了会有人来检查吗", "冷气开了会不会出事", "测一下温度", "洗了手机", "打个卡车", "请个假条", "加了班级群", "吃过饭店",
])
def test_words_that_only_look_like_a_split_verb_stay(text):
    assert join_separable_verbs(text) == text
