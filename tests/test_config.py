"""The TOML config: the documented example, defaults, and one clear message for each mistake."""
import dataclasses

import pytest

from bot.config import PROJECT_ROOT, BotConfig, ConfigError, FaqConfig, ServerConfig, config_from_dict, load_config

EXAMPLE = PROJECT_ROOT / "config.example.toml"


def test_example_documents_the_defaults():
    config = load_config(EXAMPLE)
    assert config.bot == BotConfig()
    assert config.server == ServerConfig()
    assert config.faq.reload_seconds == FaqConfig().reload_seconds
    assert config.faq.path == PROJECT_ROOT / "faq" / "data" / "faq.yaml"
    assert config.storage.path == PROJECT_ROOT / "instance" / "bot.db"
    assert config.wechat and config.wecom and config.wecom_bot  # every channel is shown


def test_every_key_of_every_section_is_in_the_example():
    text = EXAMPLE.read_text(encoding="utf-8")
    config = load_config(EXAMPLE)
    for section in ("server", "storage", "faq", "bot", "wechat", "wecom", "wecom_bot"):
        for field in dataclasses.fields(getattr(config, section)):
            assert f"\n{field.name} = " in text, f"{section}.{field.name} is not documented"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"bot": {"nmae": "x"}}, "unknown key bot.nmae"),
        ({"robot": {}}, "unknown section [robot]"),
        ({"server": {"port": "80"}}, "server.port must be a whole number"),
        ({"bot": {"answer_threshold": 0.2, "suggest_threshold": 0.5}}, "bot.suggest_threshold must be <= bot.answer_threshold"),
        ({"wecom": {"token": "t", "corp_id": "c"}}, "missing key wecom.encoding_aes_key"),
        ({"wecom_bot": {"token": "t", "encoding_aes_key": "short"}}, "wecom_bot.encoding_aes_key must be 43 characters"),
        ({"wechat": {"token": "t", "mode": "secure"}}, "wechat.mode must be plain, compat or safe"),
        ({"storage": {"keep_days": -1}}, "storage.keep_days must be 0 (never prune) or more"),
        ({"server": {"max_body_bytes": -1}}, "server.max_body_bytes must be at least 1024"),
    ],
)
def test_mistakes_name_the_key(data, message):
    with pytest.raises(ConfigError) as excinfo:
        config_from_dict(data)
    assert message in str(excinfo.value)


def test_relative_paths_are_taken_from_the_config_file(tmp_path):
    path = tmp_path / "bot.toml"
    path.write_text('[storage]\npath = "data/bot.db"\n', encoding="utf-8")
    assert load_config(path).storage.path == tmp_path / "data" / "bot.db"


def test_bad_toml_and_missing_file(tmp_path):
    path = tmp_path / "bot.toml"
    path.write_text("[bot\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
