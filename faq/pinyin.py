"""Toneless pinyin of Chinese words: a homophone typo shares its word's (消读 and 消毒: "xiao du").

pypinyin's own readings and its phrase segmentation, read from one trie mapped from a cache file, as
jieba's dictionary is (faq/text.py): importing pypinyin's tables took a fifth of a start and 56 MB
of every process. The file is written from pypinyin's tables the first time (faq/cache.py).
"""
from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import marisa_trie

from faq import cache

# Found without importing pypinyin: only a new cache file needs its tables.
_PYPINYIN = Path(importlib.util.find_spec("pypinyin").origin).resolve().parent
# Its data and their loaders: a new version of pypinyin changes them.
TABLES = tuple(_PYPINYIN / name for name in ("phrases_dict.json", "pinyin_dict.json", "phrases_dict.py", "pinyin_dict.py")
               if (_PYPINYIN / name).exists())
# Keys of the trie beside the phrases (a phrase has two characters or more; tests/test_text.py):
_CHAR = "\x01"  # + a character: its first reading
_PREFIX = "\x02"  # + the start of some phrase (the phrase itself included): pypinyin's prefix set

# Tone marks to plain letters, ü to v: pypinyin's Style.NORMAL.
_TONELESS = str.maketrans({ch: plain for plain, marked in {"a": "āáǎà", "e": "ēéěè", "i": "īíǐì", "o": "ōóǒò",
                                                         "u": "ūúǔù", "v": "ǖǘǚǜü", "n": "ńňǹ", "m": "ḿ"}.items()
                           for ch in marked})


@lru_cache(maxsize=100_000)
def pinyin_key(word: str) -> str:
    """Toneless pinyin of a word, syllables joined by spaces.

    For Chinese characters, pypinyin's own steps over its tables: phrases by its segmentation, else
    each character's first reading. The same as lazy_pinyin(word, Style.NORMAL) (tests/test_text.py
    holds it to that) at a quarter of the cost, which a large FAQ's load pays once per word.
    """
    if not all("\u4e00" <= ch <= "\u9fff" for ch in word):
        from pypinyin import Style, lazy_pinyin  # noqa: PLC0415  (typo repair asks only of Chinese words)

        return " ".join(lazy_pinyin(word, style=Style.NORMAL, errors="ignore"))
    starts = _STARTS
    for i in range(len(word) - 1):
        pair = word[i : i + 2]
        found = starts.get(pair)
        if found is None:
            found = _starts_a_phrase(pair)
        if found:
            break
    else:
        # No phrase starts anywhere in it: the segmentation would give it character by character
        # (a typo window, as a rule).
        return " ".join(reading for ch in word if (reading := _char_reading(ch)))
    syllables = []
    for phrase in _phrases(word):
        reading = _phrase_reading(phrase)
        if reading is None:
            syllables += [reading for ch in phrase if (reading := _char_reading(ch))]
        elif reading:
            syllables.append(reading)  # the phrase's syllables, joined
    return " ".join(syllables)


# Each a lookup in the trie, remembered: the trie's are slower than a dict's.
_STARTS: dict[str, bool] = {}  # text -> whether a phrase starts with it (most often asked of two characters)


def _starts_a_phrase(text: str) -> bool:
    found = _STARTS.get(text)
    if found is None:
        if len(_STARTS) > 200_000:  # typos keep bringing new pairs: stay bounded
            _STARTS.clear()
        found = _STARTS[text] = _PREFIX + text in tables()
    return found


@lru_cache(maxsize=100_000)
def _phrase_reading(text: str) -> str | None:
    """A phrase's toneless syllables, joined by spaces; None when the text is no phrase."""
    found = tables().get(text)
    return None if found is None else found[0].decode()


@lru_cache(maxsize=None)  # at most the 21,000 characters of the block
def _char_reading(ch: str) -> str:
    """A character's first reading without tones ("" when pypinyin has none)."""
    found = tables().get(_CHAR + ch)
    return found[0].decode() if found else ""


def _phrases(text: str):
    """pypinyin's forward maximum matching (mmseg's seg.cut, no_non_phrases=True): the longest
    phrase at each place, else one character."""
    remain = text
    while remain:
        longest = 0
        for end in range(1, len(remain) + 1):
            if not _starts_a_phrase(remain[:end]):
                break
            if _phrase_reading(remain[:end]) is not None:
                longest = end
        else:
            if not longest:  # all of it starts a phrase, and no phrase ends in it
                yield from remain
                return
        if longest:
            yield remain[:longest]
            remain = remain[longest:]
        else:
            yield remain[0]
            remain = remain[1:]


@lru_cache(maxsize=1)
def tables() -> marisa_trie.BytesTrie:
    """pypinyin's phrases (their toneless syllables), characters (_CHAR: their first reading) and
    phrase prefixes (_PREFIX), mapped from the cache file, written first if need be."""
    folder = cache.private_dir()
    if folder is None:
        return _build_tables()
    # pypinyin leaves its phrases out when PYPINYIN_NO_PHRASES is set: such a table is another file.
    path = folder / f"pinyin-{cache.key_of(*TABLES, also=os.environ.get('PYPINYIN_NO_PHRASES', ''))}.trie"
    trie = marisa_trie.BytesTrie()
    try:
        trie.mmap(str(path))
        if _CHAR + "一" in trie:  # a table of ours (marisa refuses a truncated file), not another trie
            cache.used(path)
            return trie
    except (OSError, RuntimeError, ValueError):  # none yet, or a broken one: write it again
        pass
    trie = _build_tables()
    cache.write_atomically(path, trie.save)
    cache.remove_stale(path, "pinyin-*")
    return trie


def _build_tables() -> marisa_trie.BytesTrie:
    """tables(), from pypinyin's own (a second or so)."""
    from pypinyin.constants import PHRASES_DICT, PINYIN_DICT  # noqa: PLC0415

    items = [(phrase, " ".join(reading[0].translate(_TONELESS) for reading in readings).encode())
             for phrase, readings in PHRASES_DICT.items()]
    items += [(_PREFIX + prefix, b"") for prefix in {phrase[:end] for phrase in PHRASES_DICT for end in range(1, len(phrase) + 1)}]
    items += [(_CHAR + chr(code), readings.split(",")[0].translate(_TONELESS).encode())
              for code, readings in PINYIN_DICT.items() if readings]
    return marisa_trie.BytesTrie(items)
