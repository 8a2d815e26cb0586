"""The callback XML reader: its fast path reads exactly what ElementTree reads, and refuses the same."""
import xml.etree.ElementTree as ET

import pytest

from handlers import xmlmsg
from handlers.crypto import Rejected

SAMPLES = [
    "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>"
    "<CreateTime>1714036504</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[食堂可以堂食吗？a<b & c]]></Content><MsgId>1234567890123456</MsgId></xml>",
    "<xml>\n  <Encrypt><![CDATA[abc+/=]]></Encrypt>\n  <AgentID>1000002</AgentID>\n</xml>\n",
    "<xml><Content><![CDATA[  前后空格  ]]></Content><Empty></Empty></xml>",
    "<xml><Content><![CDATA[x]]]]><![CDATA[>y]]></Content></xml>",  # "]]>" inside CDATA: the slow path
    "<xml><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey></xml>",
]


def element_tree(body: bytes) -> dict:
    root = ET.fromstring(body)
    return {child.tag: (child.text or "").strip() for child in root}


@pytest.mark.parametrize("sample", SAMPLES)
def test_reads_what_element_tree_reads(sample):
    body = sample.encode("utf-8")
    assert xmlmsg.parse(body) == element_tree(body)


@pytest.mark.parametrize(
    "body",
    [b"<xml><a>1</a>", b"<!DOCTYPE x [<!ENTITY e 'boom'>]><xml><a>&e;</a></xml>", b"<html><a>1</a></html>",
     "<xml><a>\u00e9</a></xml>".encode("latin-1"), b"not xml at all", b""],
)
def test_refuses_what_is_not_a_callback(body):
    with pytest.raises(Rejected):
        xmlmsg.parse(body)
