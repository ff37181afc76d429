"""Mask personal data in what a reporter wrote: names, phone numbers, resident ID numbers,
bank card numbers, e-mail addresses and street addresses. Pure: no session, no I/O.

Every view of a report except the regulator's shows the masked text; the stored text is
encrypted and only the regulator reads it whole. Masking errs on the side of hiding: a
word wrongly masked costs a reader a little context, a name wrongly shown can cost a
reporter their safety.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

PHONE = "[电话]"
ID_NUMBER = "[身份证号]"
BANK_CARD = "[银行卡号]"
EMAIL = "[邮箱]"
ADDRESS = "[地址]"
NAME = "某"  # 王先生 -> 某先生, as Chinese news and court documents anonymise

_DIGIT_RUN_START = r"(?<![0-9A-Za-z])"
_DIGIT_RUN_END = r"(?![0-9A-Za-z])"

# Resident ID: region, birth date, sequence and check character (18), or the old 15 digits.
_ID = re.compile(
    _DIGIT_RUN_START
    + r"(?:[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    r"|[1-9]\d{14})" + _DIGIT_RUN_END
)
# Bank card: 16 to 19 digits, possibly written in groups of four.
_CARD = re.compile(
    _DIGIT_RUN_START + r"(?:\d{4}[ \-]){3}\d{4}(?:[ \-]?\d{1,3})?" + _DIGIT_RUN_END + "|"
    r"(?<![0-9A-Za-z])\d{16,19}(?![0-9A-Za-z])"
)
# Phone: a mainland mobile (with or without +86 / 0086 and separators), a landline with
# its area code, or any international number written with a leading +.
_PHONE = re.compile(
    r"(?:(?:\+|00)86[ \-]?)?(?<!\d)1[3-9]\d[ \-]?\d{4}[ \-]?\d{4}(?!\d)"
    r"|(?<!\d)0\d{2,3}[ \-]?\d{7,8}(?!\d)"
    r"|\+\d{1,3}[ \-]?\d(?:[ \-]?\d){5,13}(?!\d)"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")

_CN = r"[\u4e00-\u9fff]"
# Characters that do not occur in the names of places and people but do in the verbs and
# pronouns around them: a name or place never starts or runs through one of these.
_STOP = "了的在去到是住我你他她们和与从把被给来家说要还就也都很又再叫找打某"
_NAMECH = rf"[^\W\d_A-Za-z{_STOP}]"
_NUM = r"[0-9０-９一二三四五六七八九十百零〇A-Za-z\-]"
# A street address: an optional chain of regions, then a road with a number, or a named
# estate, then optional building, unit, floor and room.
_REGION = rf"(?:{_NAMECH}{{1,6}}?(?:省|自治区|市|自治州|地区|盟|区|县|旗|镇|乡|街道|村))"
_ROAD = rf"(?:{_NAMECH}{{1,6}}?(?:路|街|大道|大街|巷|弄|胡同|道){_NUM}{{1,6}}号(?:院)?)"
_ESTATE = rf"(?:{_NAMECH}{{1,6}}?(?:小区|花园|大厦|公寓|新村|家园|苑|广场)+)"
_UNIT = rf"(?:{_NUM}{{1,5}}(?:号楼|栋|幢|座|单元|层|楼|室|号|户))"
_ADDRESS = re.compile(rf"{_REGION}*(?:{_ROAD}{_ESTATE}?|{_ESTATE}){_UNIT}*|{_REGION}{{2,}}{_UNIT}*")

# Names that a pattern gives away: 姓王, 叫王小明, 王先生 / 李女士 / 张小姐 / 赵老师 ...
_TITLES = "先生|女士|小姐|太太|老师|师傅|阿姨|大爷|大妈|经理|总|警官"
# Characters before a title that are not a surname (这位先生, 一位女士, 那个老师).
_NOT_SURNAME = set("这那一位个某的是和与跟给对被叫找了有老小你我他她它们各每该此")
_COMPOUND = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "令狐", "夏侯", "尉迟")
_TITLED = re.compile(rf"({_CN}{{1,2}})({_TITLES})")
_SURNAMED = re.compile(rf"(姓)({_NAMECH})")
_CALLED = re.compile(
    rf"((?:名叫|叫做|名字是|名字叫|我叫|他叫|她叫|自称|姓名[:：]?)(?:是|为)?\s*)({_NAMECH}{{2,3}})"
)
_EN_TITLED = re.compile(
    r"\b(Mr|Mrs|Ms|Miss|Dr|[Nn]ame is|[Nn]amed|I am|I'm|called himself|called herself)\.?"
    r"\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"
)
# Words jieba tags as person names that are not names, and that a reader of a complaint
# must see (an insult is evidence of the insult category).
_NOT_NAMES = frozenset({"王八蛋", "老赖", "张狂", "高利", "黄牛", "钱财", "马上", "白条"})


@dataclass(frozen=True)
class Masked:
    text: str
    kinds: frozenset[str]  # which kinds of personal data were found


def _titled(match: re.Match[str]) -> str:
    before, title = match.group(1), match.group(2)
    if before in _COMPOUND:
        return NAME + title
    last = before[-1]
    if last in _NOT_SURNAME:
        return before + title
    return before[:-1] + NAME + title


@cache
def _posseg() -> object:
    import jieba
    import jieba.posseg

    jieba.setLogLevel(60)
    return jieba.posseg


_MARKER = re.compile(r"(\[[^\[\]]{1,6}\])")


def _jieba_names(text: str) -> str:
    """Person names found by jieba's part-of-speech tagger (tag ``nr``), masked. Markers
    already in the text are left alone."""
    if not re.search(_CN, text):
        return text
    posseg = _posseg()
    out: list[str] = []
    for part in _MARKER.split(text):
        if _MARKER.fullmatch(part) or not re.search(_CN, part):
            out.append(part)
            continue
        for word, flag in posseg.cut(part):  # type: ignore[attr-defined]
            if flag == "nr" and len(word) <= 4 and word not in _NOT_NAMES:
                out.append(NAME * len(word))
            else:
                out.append(word)
    return "".join(out)


def mask(text: str, *, names: bool = True) -> Masked:
    """``text`` with personal data replaced by markers. ``names=False`` skips the name
    tagger (used where only the structure matters, such as duplicate detection)."""
    kinds: set[str] = set()

    def sub(pattern: re.Pattern[str], marker: str, kind: str, value: str) -> str:
        new, count = pattern.subn(marker, value)
        if count:
            kinds.add(kind)
        return new

    out = sub(_EMAIL, EMAIL, "email", text)
    out = sub(_CARD, BANK_CARD, "bank_card", out)
    out = sub(_ID, ID_NUMBER, "id_number", out)
    out = sub(_PHONE, PHONE, "phone", out)
    out = sub(_ADDRESS, ADDRESS, "address", out)
    if names:
        before = out
        # Titles first: 自称是张警官 keeps 警官 (impersonation is evidence) and loses 张.
        out = _TITLED.sub(_titled, out)
        out = _CALLED.sub(lambda m: m.group(1) + NAME * len(m.group(2)), out)
        out = _SURNAMED.sub(lambda m: m.group(1) + NAME, out)
        out = _EN_TITLED.sub(lambda m: m.group(1) + " ***", out)
        out = _jieba_names(out)
        if out != before:
            kinds.add("name")
    return Masked(out, frozenset(kinds))


def mask_text(text: str | None) -> str:
    """The masked text ('' for None)."""
    return mask(text).text if text else ""
