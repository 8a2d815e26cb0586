"""The `ask` and `faq` commands, run through click's CliRunner as an admin would."""
import importlib
import json
import subprocess
import sys

from click.testing import CliRunner

from bot.cli import COMMAND_MODULES, register_all
from tests.conftest import MINI_FAQ, write_faq

cli = register_all()


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_ask_json_prints_one_object_per_question(mini_faq):
    result = run("ask", "--faq", str(mini_faq), "--json", "厂区一天消毒几次")
    assert result.exit_code == 0
    line = json.loads(result.output)
    assert set(line) == {"question", "decision", "faq_id", "score", "candidates", "reply"}
    assert line["question"] == "厂区一天消毒几次"
    assert line["decision"] == "answer" and line["faq_id"] == "disinfection.frequency"
    assert 0 <= line["score"] <= 1
    assert line["candidates"][0]["faq_id"] == "disinfection.frequency"
    assert all(0 <= c["score"] <= 1 for c in line["candidates"])


def test_ask_answers_each_argument_as_its_own_question(mini_faq):
    result = run("ask", "--faq", str(mini_faq), "--json", "厂区一天消毒几次", "收到，谢谢！")
    lines = [json.loads(x) for x in result.output.splitlines()]
    assert [(x["question"], x["decision"]) for x in lines] == [("厂区一天消毒几次", "answer"), ("收到，谢谢！", "ignore")]


def test_ask_reads_questions_from_stdin(mini_faq):
    result = run("ask", "--faq", str(mini_faq), "--json", input="员工吃饭要错峰吗\n\n收到，谢谢！\n仓库叉车要年检吗\n")
    lines = [json.loads(x) for x in result.output.splitlines()]
    assert [x["decision"] for x in lines] == ["answer", "ignore", "escalate"]
    assert lines[0]["faq_id"] == "canteen.staggered-meals"
    assert lines[1]["faq_id"] is None and lines[1]["reply"] == ""
    assert lines[2]["faq_id"] is None and "工作人员" in lines[2]["reply"]


def test_ask_uses_the_bot_name_from_config(tmp_path, mini_faq):
    config = tmp_path / "bot.toml"
    config.write_text(f'[faq]\npath = "{mini_faq}"\n[bot]\nname = "小助手"\n', encoding="utf-8")
    result = run("ask", "--config", str(config), "--json", "@小助手 厂区一天消毒几次")
    assert json.loads(result.output)["faq_id"] == "disinfection.frequency"


def test_ask_refuses_a_broken_faq(tmp_path):
    path = write_faq(tmp_path, MINI_FAQ.replace("category: supplies", "category: nowhere"))
    result = CliRunner().invoke(cli, ["ask", "--faq", str(path), "口罩"])
    assert result.exit_code == 1
    assert f"{path}:23: error: category 'nowhere'" in result.output


def test_faq_check_clean_file_prints_a_summary(mini_faq):
    result = run("faq", "check", str(mini_faq))
    assert result.exit_code == 0
    assert result.output.strip() == f"{mini_faq}: OK, 4 entries in 2 categories"


def test_faq_check_lists_errors_and_exits_1(tmp_path):
    path = write_faq(tmp_path, MINI_FAQ.replace("keywords:", "keyword:").replace("  - id: canteen.staggered-meals", "  - id: disinfection.frequency"))
    result = CliRunner().invoke(cli, ["faq", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:12: error: unknown key 'keyword'" in result.output
    assert f"{path}:17: error: duplicate id 'disinfection.frequency'" in result.output
    assert "2 error(s)" in result.output


def test_faq_check_warnings_keep_exit_0(tmp_path):
    path = write_faq(tmp_path, MINI_FAQ.replace("    effective: 2020-02-21\n", "    effective: 2020-02-21\n    review_by: 2020-03-01\n"))
    result = run("faq", "check", str(path))
    assert result.exit_code == 0
    assert f"{path}:17: warning: entry 'disinfection.frequency' was due for review on 2020-03-01" in result.output
    assert "OK, 4 entries in 2 categories, 1 warning(s)" in result.output


def test_faq_eval_reports_the_rates(tmp_path, mini_faq):
    questions = tmp_path / "q.yaml"
    questions.write_text(
        "questions:\n"
        "  - {q: 厂区一天消毒几次, expect: disinfection.frequency}\n"
        "  - {q: 收到, expect: ignore}\n"
        "  - {q: 仓库叉车要年检吗, expect: escalate}\n",
        encoding="utf-8",
    )
    result = run("faq", "eval", "--faq", str(mini_faq), str(questions))
    assert result.exit_code == 0
    assert "3 questions: right 1/1 (100.0%), wrong 0/3 (0.0%)" in result.output


def test_faq_eval_names_what_is_wrong_with_a_question_file(tmp_path, mini_faq):
    missing = tmp_path / "missing.yaml"
    missing.write_text("questions:\n  - {q: 你好}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["faq", "eval", "--faq", str(mini_faq), str(missing)])
    assert result.exit_code == 1 and "question 1 needs both q and expect" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("questions: [unclosed\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["faq", "eval", "--faq", str(mini_faq), str(broken)])
    assert result.exit_code == 1 and f"{broken}:" in result.output and "not valid YAML" in result.output


def test_every_listed_command_comes_from_its_module():
    ctx = cli.make_context("run.py", ["--help"], resilient_parsing=True)
    for module in set(COMMAND_MODULES.values()):
        importlib.import_module(module)
    assert set(cli.commands) == set(COMMAND_MODULES)  # a command added to a module but not to the map
    for name, module in COMMAND_MODULES.items():
        command = cli.get_command(ctx, name)
        assert command is not None, name
        assert command.callback.__module__ == module, name


def test_ask_runs_without_loading_the_web_server(tmp_path):
    script = (
        "import sys\n"
        "from bot.cli import register_all\n"
        "register_all()(['ask', '--faq', sys.argv[1], '厂区一天消毒几次'], standalone_mode=False)\n"
        "print('loaded' if 'bot.server' in sys.modules else 'not loaded')\n"
    )
    faq_file = write_faq(tmp_path, MINI_FAQ)
    result = subprocess.run([sys.executable, "-c", script, str(faq_file)], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "not loaded"


def test_serve_refuses_a_broken_faq_before_starting(tmp_path):
    path = write_faq(tmp_path, MINI_FAQ.replace("keywords:", "keyword:"))
    config = tmp_path / "config.toml"
    config.write_text(f'[faq]\npath = "{path}"\n[storage]\npath = "{tmp_path / "bot.db"}"\n', encoding="utf-8")
    # An address no server can bind: should the check let the FAQ through, gunicorn fails, and does not serve.
    result = CliRunner().invoke(cli, ["serve", "--config", str(config), "--host", "256.0.0.1"])
    assert result.exit_code == 1
    assert "faq.path: the FAQ file cannot be loaded" in result.output
    assert f"{path}:12: error: unknown key 'keyword'" in result.output
    assert not (tmp_path / "bot.db").exists()  # refused before the database was touched
