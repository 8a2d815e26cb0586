"""Developer tool: ranking accuracy and a threshold sweep over labelled sets (not a test)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faq.evaluation import load_labelled  # noqa: E402
from faq.loader import load_faq  # noqa: E402
from faq.matcher import Matcher  # noqa: E402
from faq.text import clean, is_courtesy, strip_greetings  # noqa: E402


def rows(faq_path, labelled_path):
    m = Matcher(load_faq(faq_path))
    out = []
    for item in load_labelled(labelled_path):
        cleaned = clean(item.question, m.settings.name)
        if not strip_greetings(cleaned) or is_courtesy(cleaned):
            out.append((item, None, 0, 0))
            continue
        ranked = m.rank(item.question, limit=2)
        top = ranked[0] if ranked else None
        s1 = top.score if top else 0
        s2 = ranked[1].score if len(ranked) > 1 else 0
        out.append((item, top.entry.id if top else None, s1, s1 - s2))
    return out


def sweep(data, answer_ts, margins, suggest_t):
    for t in answer_ts:
        for mg in margins:
            ans = right = wrong = oos = oos_esc = 0
            total = len(data)
            for item, top, s1, margin in data:
                answered = top is not None and s1 >= t and margin >= mg
                if item.expect not in ("escalate", "ignore"):
                    ans += 1
                    right += answered and top == item.expect
                if answered and top != item.expect:
                    wrong += 1
                if item.expect == "escalate":
                    oos += 1
                    oos_esc += top is None or s1 < suggest_t
            print(f"t={t:.2f} m={mg:.2f} right={right/ans:.1%} wrong={wrong/total:.1%} oos_esc={oos_esc/max(oos,1):.1%}")


if __name__ == "__main__":
    sets = [("faq/data/faq.yaml", "tests/data/eval_starter_dev.yaml")]
    if len(sys.argv) > 1:
        sets = [tuple(a.split(":")) for a in sys.argv[1:]]
    for faq_path, labelled in sets:
        data = rows(faq_path, labelled)
        answerable = [d for d in data if d[0].expect not in ("escalate", "ignore")]
        top1 = sum(d[1] == d[0].expect for d in answerable) / len(answerable)
        print(f"{labelled}: top-1 {top1:.1%} of {len(answerable)} answerable")
        sweep(data, [0.4, 0.45, 0.5, 0.55, 0.6], [0.0, 0.05, 0.1], 0.35)
