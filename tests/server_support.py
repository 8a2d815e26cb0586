"""Shared setup for the server tests: Tencent's vectors, a small FAQ, config and app builders."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from bot.config import Config, config_from_dict

# Public vectors from Tencent's sample code.
WECOM = {"token": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", "key": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", "corp_id": "ww1436e0e65a779aee"}
WECOM_ECHO = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
    "plaintext": "1288432023552776189",
}
OA = {"token": "QDG6eK", "key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "app_id": "wx5823bf96d3bd56c7"}
OA_VECTOR = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "encrypt": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
    "plaintext": "1616140317555161061",
}
PLAIN = {"token": "AAAAA", "timestamp": "1714036504", "nonce": "1514711492", "signature": "f464b24fc39322e44b38aa78f5edd27bd1441696"}
# The smart robot has no published vector; any 32-byte key in Tencent's 43-character form.
ROBOT = {"token": "RobotToken123", "key": base64.b64encode(hashlib.sha256(b"robot").digest()).decode().rstrip("=")}

BOT_NAME = "防疫助手"
NOW = 1714036504  # the plain vector's time; tests pin the clock here unless they use an older vector

FAQ_YAML = """\
version: 1
categories:
  - id: resume
    name: 复工复产
    team: 经信局
entries:
  - id: resume.materials
    category: resume
    question: 复工复产需要准备哪些申请材料
    alternates:
      - 复工申请要交什么材料
    keywords: [复工, 材料]
    answer: 请准备复工申请表、疫情防控方案和员工健康台账，向所在街道提交。
  - id: mask.purchase
    category: resume
    question: 企业防疫口罩不够用去哪里采购
    keywords: [口罩, 采购]
    answer: 可通过区工信局的防疫物资保障平台登记采购需求。
"""

NEW_ENTRY = """\
  - id: loan.subsidy
    category: resume
    question: 小微企业贷款贴息怎么申请
    keywords: [贷款, 贴息]
    answer: 贴息申请请登录区金融办网站填写申报表。
"""

ANSWERABLE = "复工需要准备哪些申请材料？"
ANSWER_SNIPPET = "复工申请表"
UNANSWERABLE = "我们厂区的污水排放许可证换证流程走到哪一步了"


class Clock:
    """A settable clock for the freshness check."""

    def __init__(self, now: float = NOW):
        self.now = float(now)

    def __call__(self) -> float:
        return self.now


def write_faq(path: Path, extra: str = "") -> Path:
    path.write_text(FAQ_YAML + extra, encoding="utf-8")
    return path


def config_dict(tmp_path: Path, *, wechat_mode: str = "safe", channels=("wechat", "wecom", "wecom_bot"), reload_seconds: float = 0.2) -> dict:
    faq = tmp_path / "faq.yaml"
    if not faq.exists():
        write_faq(faq)
    data: dict = {
        "server": {"max_body_bytes": 16 * 1024},
        "storage": {"path": str(tmp_path / "bot.db")},
        "faq": {"path": str(faq), "reload_seconds": reload_seconds},
        "bot": {"name": BOT_NAME},
    }
    if "wechat" in channels:
        data["wechat"] = {"mode": wechat_mode, "token": OA["token"], "encoding_aes_key": OA["key"], "app_id": OA["app_id"]}
    if "wecom" in channels:
        data["wecom"] = {"token": WECOM["token"], "encoding_aes_key": WECOM["key"], "corp_id": WECOM["corp_id"]}
    if "wecom_bot" in channels:
        data["wecom_bot"] = {"token": ROBOT["token"], "encoding_aes_key": ROBOT["key"]}
    return data


def make_config(tmp_path: Path, **kwargs) -> Config:
    return config_from_dict(config_dict(tmp_path, **kwargs))


def send(client, req):
    """Send a wechat_peer.Request through a Flask test client."""
    return client.open(req.url, method=req.method, data=req.body, content_type=req.content_type)
