"""Matcher benchmark: FAQ load time and time per question at 100, 1,000 and 10,000 generated entries.

Run with `make bench` (or `.venv/bin/python bench/matcher_bench.py [--sizes 100,1000]`).
Prints a table; README quotes the figures. Not a test: timings depend on the machine.

Two kinds of FAQ: "templates", entries put together from a few hundred words (few distinct words,
so few to segment and learn), and "labelled", entries taken from the labelled FAQs in tests/data
and the starter FAQ (over 3,000 distinct entries from a hundred sectors), each with a city and an
industry put before its phrasings, which has the vocabulary of real FAQs.

"load" is a first start's: the FAQ file read, checked and indexed. "kept" is a restart's with the
file unchanged: the index the first load kept (faq/kept.py) read back.

Two sets of questions are timed: "listed" ones, an entry's own phrasing with a word or two changed,
and "fresh" ones, asked by no entry: for the templates, put together from the same parts, many with
a greeting or an @mention, some with a homophone typo; for the labelled FAQ, the labelled sets' own
distinct questions, half of them with a city before them. Each fresh question is timed once, the first time the matcher
sees it, as in a real group where few messages repeat; listed ones are asked again and again.

`--baseline` also times, on the same FAQs and fresh questions, the naive approach the project's first
issue measured (jieba tokens, a linear rapidfuzz token_set_ratio scan: ~22 ms a question and ~5 s to
load at 10,000 entries on its machine), so that the figures can be scaled to another machine.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGIONS = "杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州 丽水 苏州 无锡 常州 南通 扬州 镇江 泰州 徐州 盐城 淮安 连云港 宿迁 南京 合肥 芜湖 广州 深圳 佛山 东莞 中山 珠海 惠州 江门 肇庆 汕头 厦门 福州 泉州 漳州 青岛 济南 烟台 潍坊 临沂 郑州 洛阳 长沙 株洲 南昌 成都 重庆 西安 昆明 贵阳 南宁 天津 石家庄 唐山 保定 太原 沈阳 大连 长春 哈尔滨".split()
INDUSTRIES = "汽配 纺织 服装 电子 机械 化工 食品 医药 五金 家具 塑料 印刷 建材 物流 电商 餐饮 超市 建筑 钢铁 造纸 陶瓷 玩具 灯具 眼镜 制鞋 箱包 光伏 模具 轴承 泵阀".split()
SUBJECTS = "员工 工人 职工 外地员工 新招员工 返岗人员 管理人员 保洁人员 保安 厨师 司机 访客 供应商 实习生 派遣工".split()
PLACES = "车间 食堂 宿舍 办公室 仓库 门卫室 会议室 电梯 卫生间 班车 厂区 生产线 更衣室 浴室 停车场 装卸区".split()
TOPICS = "消毒 测温 隔离 戴口罩 通风 登记 分餐 错峰 健康打卡 核酸检测 居家观察 清洁 间隔就座 限流 报备 体温监测".split()
ASKS = [
    "{r}{i}企业{s}在{p}要不要{t}",
    "{r}{i}行业{p}{t}有什么要求",
    "{i}企业{s}{t}怎么安排",
    "{r}的{i}厂{p}是否需要{t}",
    "{s}进{p}前{t}的标准是什么",
    "{r}{i}公司{p}每天{t}几次",
]


def generate_faq(size: int, seed: int = 7) -> tuple[str, list[str], list[str]]:
    """A valid FAQ file of `size` entries from the templates, its listed questions and fresh ones."""
    rng = random.Random(seed)
    seen: set[str] = set()
    lines = [
        "version: 1",
        "categories:",
        "  - {id: prevention, name: 防控措施, team: 防控指导组}",
        "  - {id: labor, name: 用工保障, team: 用工保障组}",
        "entries:",
    ]
    questions = []
    for n in range(size):
        phrasings = []
        while len(phrasings) < 6:
            text = rng.choice(ASKS).format(
                r=rng.choice(REGIONS), i=rng.choice(INDUSTRIES), s=rng.choice(SUBJECTS),
                p=rng.choice(PLACES), t=rng.choice(TOPICS),
            )
            if text not in seen:
                seen.add(text)
                phrasings.append(text)
        lines += [
            f"  - id: generated.entry-{n}",
            f"    category: {rng.choice(['prevention', 'labor'])}",
            f"    question: {phrasings[0]}？",
            "    alternates: [" + ", ".join(phrasings[1:]) + "]",
            "    answer: |",
            f"      按照{rng.choice(REGIONS)}防控指挥部要求，{rng.choice(PLACES)}每日{rng.choice(TOPICS)}不少于两次，并做好记录。",
            "    source: 《企事业单位复工复产疫情防控措施指南》",
            "    effective: 2020-02-21",
        ]
        if rng.random() < 0.3:
            questions.append(rng.choice(phrasings[1:]).replace("要不要", "需不需要") + "呀")
    questions += ["回哈员工是否先隔离", "厂区一天消毒几次", "员工就餐是否分开", "社保能缓缴吗", "收到，谢谢领导"]
    return "\n".join(lines) + "\n", questions, fresh_questions(rng, seen)


GREETINGS = ("", "", "请问", "您好，请问一下", "@防疫助手 ", "各位领导好，我们厂想问下")
TYPOS = {"消毒": "消读", "测温": "侧温", "隔离": "隔里", "登记": "登计", "通风": "通丰"}


def fresh_questions(rng: random.Random, listed: set[str], count: int = 2020) -> list[str]:
    """Distinct questions no entry lists, from the same parts: greetings, @mentions and typos as people write."""
    questions, seen = [], set()
    while len(questions) < count:
        text = rng.choice(ASKS).format(
            r=rng.choice(REGIONS), i=rng.choice(INDUSTRIES), s=rng.choice(SUBJECTS),
            p=rng.choice(PLACES), t=rng.choice(TOPICS),
        )
        if text in listed or text in seen:
            continue
        seen.add(text)
        if rng.random() < 0.25:
            typo = rng.choice(list(TYPOS))
            text = text.replace(typo, TYPOS[typo])
        questions.append(rng.choice(GREETINGS) + text + rng.choice(("", "？", "呀", "，谢谢")))
    return questions


def labelled_faq(size: int, seed: int = 7) -> tuple[str, list[str], list[str]]:
    """An FAQ of `size` entries drawn from the labelled FAQs, its listed questions, and fresh ones
    (the labelled sets' questions, half of them with a city before them)."""
    import yaml

    from faq.text import normalize

    rng = random.Random(seed)
    data = ROOT / "tests" / "data"
    read = lambda path: yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: E731
    sources, categories = [], {}
    for path in sorted(data.glob("*_faq.yaml")) + [ROOT / "faq" / "data" / "faq.yaml"]:
        faq = read(path)
        categories.update({c["id"]: c for c in faq["categories"]})
        sources += faq["entries"]
    entries, seen, listed = [], set(), []
    while len(entries) < size:
        entry = dict(rng.choice(sources))
        prefix = rng.choice(REGIONS) + rng.choice(INDUSTRIES)
        phrasings = [prefix + p for p in [entry["question"], *entry.get("alternates", [])]]
        keys = {normalize(p) for p in phrasings}
        if keys & seen:
            continue  # the same phrasing under two entries is an error in an FAQ
        seen |= keys
        entry.update(id=f"e{len(entries)}.{entry['id']}", question=phrasings[0], alternates=phrasings[1:])
        entry.pop("review_by", None)
        entries.append(entry)
        if rng.random() < 0.3:
            listed.append(rng.choice(phrasings) + "呀")
    questions = list(dict.fromkeys(  # distinct: each is timed the first time it is seen
        q["q"] for path in sorted(data.glob("eval_*.yaml"))
        for q in read(path)["questions"]))
    rng.shuffle(questions)
    fresh = [(rng.choice(REGIONS) if rng.random() < 0.5 else "") + q for q in questions[:2020]]
    text = yaml.dump({"version": 1, "categories": list(categories.values()), "entries": entries},
                     Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True, sort_keys=False)
    return text, listed, fresh


KINDS = {"templates": generate_faq, "labelled": labelled_faq}


def measure(kind: str, size: int, repeats: int) -> dict:
    from faq.kept import finish_writing, load_matcher
    from faq.matcher import shipped_embedding, shipped_prior
    from faq.text import segmenter

    # Loaded once per process, not once per FAQ (a reload reuses them): jieba's dictionary and the
    # shipped question prior and n-gram vectors. The first answer after process start counts them all.
    segmenter()
    shipped_prior()
    shipped_embedding()
    text, listed, fresh = KINDS[kind](size)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "faq.yaml"
        path.write_text(text, encoding="utf-8")
        kept = Path(tmp) / "kept"
        kept.mkdir(mode=0o700)
        started = time.perf_counter()
        matcher = load_matcher(path, folder=kept)  # built: no index kept yet
        load_seconds = time.perf_counter() - started
        finish_writing()  # the thread that keeps the index, not timed: the process already answers meanwhile
        started = time.perf_counter()
        load_matcher(path, folder=kept)  # as a restart would, the FAQ unchanged
        kept_seconds = time.perf_counter() - started
    listed = (listed * (1 + 400 // max(len(listed), 1)))[:400]
    for q in listed[:20] + fresh[:20]:
        matcher.decide(q)  # warm caches as a running server would have them
    return {"size": size, "load_s": load_seconds, "kept_s": kept_seconds, "listed_ms": _per_question(matcher, listed, repeats),
            "fresh_ms": _per_question(matcher, fresh[20:], 1)}


def _per_question(matcher, questions: list[str], repeats: int) -> float:
    """Median over the repeats of the mean milliseconds per question."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for q in questions:
            matcher.decide(q)
        runs.append((time.perf_counter() - started) / len(questions))
    return statistics.median(runs) * 1000


def naive_baseline(kind: str, size: int, count: int = 200) -> tuple[float, float, float]:
    """The issue's naive approach on the same FAQ and fresh questions, for scale on this machine: the
    load (PyYAML's C loader, jieba with HMM off over every phrasing; jieba's own dictionary loaded
    before), and ms a question of a linear token_set_ratio scan over the entries' questions, and
    over every phrasing."""
    import jieba  # noqa: PLC0415  (the baseline's own segmenter, not the bot's)
    import yaml  # noqa: PLC0415
    from rapidfuzz import fuzz, process  # noqa: PLC0415

    jieba.setLogLevel(60)
    jieba.initialize()
    text, _, fresh = KINDS[kind](size)

    def cut(phrase: str) -> str:
        return " ".join(jieba.cut(phrase, HMM=False))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "faq.yaml"
        path.write_text(text, encoding="utf-8")
        started = time.perf_counter()
        with open(path, encoding="utf-8") as handle:
            entries = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["entries"]
        every = [[cut(q) for q in [e["question"], *e.get("alternates", [])]] for e in entries]
        load = time.perf_counter() - started
    questions, phrasings = [cuts[0] for cuts in every], [c for cuts in every for c in cuts]
    per_question = []
    for choices in (questions, phrasings):
        started = time.perf_counter()
        for q in fresh[:count]:
            process.extractOne(cut(q), choices, scorer=fuzz.token_set_ratio)
        per_question.append((time.perf_counter() - started) / count * 1000)
    return load, *per_question


def first_answer_seconds(keep_index: bool) -> float:
    """Wall time from starting `run.py ask` to its first answer, with the starter FAQ: indexed at the
    start, or (keep_index) read back from the index an earlier start kept."""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
        config.write(f"[faq]\nkeep_index = {str(keep_index).lower()}\n")
    try:
        if keep_index:
            _first_answer(config.name)  # keeps the index, if no earlier start has
        return _first_answer(config.name)
    finally:
        os.unlink(config.name)


def _first_answer(config: str) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "ask", "--json", "--config", config],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    proc.stdin.write("厂区一天消毒几次\n")
    proc.stdin.flush()
    proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.stdin.close()
    proc.wait()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--kinds", default="templates,labelled")
    parser.add_argument("--baseline", action="store_true", help="also time the issue's naive approach at each size")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    print(f"{'FAQ':>10} {'entries':>8} {'load (s)':>9} {'kept (s)':>9} {'listed (ms/question)':>21} {'fresh (ms/question)':>20}")
    for kind in args.kinds.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            # A fresh process per size, so one size's caches do not flatter the next.
            out = subprocess.run(
                [sys.executable, __file__, "--one", kind, str(size), "--repeats", str(args.repeats)],
                capture_output=True, text=True, check=True,
            ).stdout.split()
            load, kept, listed, fresh = map(float, out)
            print(f"{kind:>10} {size:>8} {load:>9.2f} {kept:>9.2f} {listed:>21.3f} {fresh:>20.3f}")
    print(f"first answer after process start, starter FAQ: {first_answer_seconds(False):.2f} s indexed, "
          f"{first_answer_seconds(True):.2f} s from the kept index")
    if args.baseline:
        print("\nnaive baseline: jieba tokens, rapidfuzz token_set_ratio, a linear scan")
        print(f"{'FAQ':>10} {'entries':>8} {'load (s)':>9} {'questions (ms/question)':>24} {'phrasings (ms/question)':>24}")
        for kind in args.kinds.split(","):
            for size in (int(s) for s in args.sizes.split(",")):
                out = subprocess.run([sys.executable, __file__, "--baseline-one", kind, str(size)],
                                     capture_output=True, text=True, check=True).stdout.split()
                load, questions, phrasings = map(float, out)
                print(f"{kind:>10} {size:>8} {load:>9.2f} {questions:>24.1f} {phrasings:>24.1f}")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--baseline-one":
        print(*naive_baseline(sys.argv[2], int(sys.argv[3])))
    elif len(sys.argv) > 3 and sys.argv[1] == "--one":
        result = measure(sys.argv[2], int(sys.argv[3]), int(sys.argv[sys.argv.index("--repeats") + 1]))
        print(result["load_s"], result["kept_s"], result["listed_ms"], result["fresh_ms"])
    else:
        main()
