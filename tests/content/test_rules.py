"""The rule layer of the content checker: every category in both languages (a violation
and a lawful near miss), negation, quotation, fact conditions, required elements, the
third-party check, evasion, offsets, merging, and a property test on arbitrary text."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairdun.content.rules import check_rules, warm_up
from fairdun.content.types import (
    CHANNELS,
    MISSING_ELEMENT,
    RECIPIENT_ROLES,
    ContentInputError,
    Context,
    Facts,
    Finding,
)

ZH = Context(lang="zh", jurisdiction="cn")
EN = Context(lang="en", jurisdiction="cn")  # cn: no US required elements in the way
US_FOOTER = " This is from a debt collector. Reply STOP to opt out."


def categories(text: str, ctx: Context) -> set[str]:
    return {f.category for f in check_rules(text, ctx)}


def assert_spans(text: str, findings: list[Finding]) -> None:
    for finding in findings:
        assert finding.span == text[finding.start : finding.end]
        assert 0 <= finding.start <= finding.end <= len(text)


# --- every category, both languages: a violation and a lawful near miss ----------------------

ZH_CASES = [
    ("threat", "再不还钱，小心你家人出事。", "请您按时还款，祝您和家人生活愉快。"),
    ("threat", "我们知道你住哪，今晚派人去你家坐坐。", "我们已将还款计划寄到您登记的地址。"),
    (
        "false-legal",
        "你已涉嫌诈骗，明天警方上门把你带走。",
        "逾期属于民事纠纷，请您尽快与我们协商。",
    ),
    (
        "false-legal",
        "今天不还，法院直接冻结你全部银行卡。",
        "您可以通过App冻结或解冻自动扣款设置。",
    ),
    (
        "impersonation",
        "这里是滨海市公安局经侦大队，请立即回电。",
        "这里是瑞丰消费金融客服中心，请您回电。",
    ),
    ("impersonation", "您有一份法院传票，请回电签收。", "您有一份还款计划书，请在App中查看。"),
    ("insult", "你这个老赖，不要脸的东西。", "感谢您的配合，祝您生活愉快。"),
    (
        "third-party-disclosure",
        "再不还就通知你单位领导和全部通讯录。",
        "我们只会与您本人沟通还款事宜。",
    ),
    ("expose", "把你的照片发到朋友圈挂出来。", "请关注我司官方公众号获取还款通知。"),
    ("expose", "明天就去你小区贴通知。", "您小区附近的网点也可以办理还款。"),
    ("collective-liability", "父债子还，你不还就找你爸妈还。", "这笔借款只由您本人承担还款责任。"),
    ("borrow-to-repay", "去别的平台借点先把我们还了。", "如有困难，我们可以为您办理分期。"),
    ("borrow-to-repay", "把车卖了今天结清。", "您可以申请延期，我们帮您算一下月供。"),
    ("pretext", "您有快递未签收，请回电0571-88888888。", "您本期账单已出，请登录App查看。"),
    ("unlawful-amount", "今天不还再加收3000元上门费。", "您本期应还862元，请按时还款。"),
    ("overshadowing", "你投诉也没用，别去投诉了。", "如对金额有异议，您可以拨打客服热线反映。"),
    ("private-payment", "加我私人微信，转到我个人卡上。", "请通过官方App或对公账户还款。"),
]

EN_CASES = [
    ("threat", "Pay today or things get ugly for you.", "Pay today and you will be all set."),
    ("threat", "We know where your kids go to school.", "We know this month has been hard."),
    ("false-legal", "A warrant will be issued for your arrest.", "Your account is past due."),
    ("false-legal", "We will garnish your wages this week.", "We can set up a weekly plan."),
    (
        "impersonation",
        "This is Officer Smith from the county sheriff.",
        "This is Jane from ABC Recovery.",
    ),
    ("impersonation", "FINAL COURT SUMMONS: call us today.", "Final reminder: call us today."),
    ("insult", "Pay up, you deadbeat.", "Please pay when you can."),
    (
        "third-party-disclosure",
        "We'll let your employer know about this debt.",
        "We will only discuss this with you.",
    ),
    (
        "expose",
        "We'll post your name online as a non-payer.",
        "You can review your account online.",
    ),
    (
        "collective-liability",
        "Your parents are legally responsible for this.",
        "Only you are responsible for this account.",
    ),
    (
        "borrow-to-repay",
        "Take out a payday loan and pay us today.",
        "We can spread the balance over twelve months.",
    ),
    (
        "pretext",
        "Missed delivery - call 0800 123 456 to rearrange.",
        "Your statement is ready - call 0800 123 456 with questions.",
    ),
    (
        "unlawful-amount",
        "A $500 processing fee will be added today.",
        "Your balance is $500 today.",
    ),
    (
        "overshadowing",
        "Ignore the dispute form - pay now.",
        "You may dispute the debt within 30 days.",
    ),
    ("private-payment", "Send it to my personal Cash App.", "Pay through our website or by phone."),
]


@pytest.mark.parametrize(("category", "bad", "good"), ZH_CASES)
def test_zh_category_and_near_miss(category: str, bad: str, good: str) -> None:
    found = check_rules(bad, ZH)
    assert category in {f.category for f in found}, found
    assert_spans(bad, found)
    assert check_rules(good, ZH) == []


@pytest.mark.parametrize(("category", "bad", "good"), EN_CASES)
def test_en_category_and_near_miss(category: str, bad: str, good: str) -> None:
    found = check_rules(bad, EN)
    assert category in {f.category for f in found}, found
    assert_spans(bad, found)
    assert check_rules(good, EN) == []


def test_every_category_has_a_case_in_both_languages() -> None:
    from fairdun.content.types import CATEGORIES

    # insult also covers the REGULATIONS.md "L" rows (obscenity, mocking illness)
    assert {c for c, _, _ in ZH_CASES} == set(CATEGORIES)
    assert {c for c, _, _ in EN_CASES} == set(CATEGORIES)


def test_a_finding_carries_rule_and_explanations() -> None:
    (finding,) = check_rules("你这个老赖", ZH)
    assert finding.rule == "zh.insult.label"
    assert finding.span == "老赖"
    assert finding.layer == "rule"
    assert "老赖" in finding.explanation  # Chinese for a Chinese message
    assert finding.explanation_en.isascii()
    (english,) = check_rules("Pay up, deadbeat.", EN)
    assert english.explanation == english.explanation_en


# --- negation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "我们不会上门",
        "绝不会通知您的家人",
        "我们从不联系您的单位或同事",
        "我司承诺：不会在朋友圈或任何公开渠道发布您的信息。",
        "请勿向个人账户转账。",
        "我们不会起诉您，请放心。",
    ],
)
def test_zh_negation_suppresses(text: str) -> None:
    assert check_rules(text, ZH) == []


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("再不还就找上门", "threat"),
        ("不还钱就通知你全家", "third-party-disclosure"),
        ("如果不还，我们就找上门", "threat"),
        ("你别以为我们不敢找上门", "threat"),
        ("我们不得不派人上门", "threat"),
        ("未按时还款将联系你单位领导", "third-party-disclosure"),
    ],
)
def test_zh_conditions_on_the_debtor_are_not_negations(text: str, category: str) -> None:
    assert category in categories(text, ZH)


@pytest.mark.parametrize(
    "text",
    [
        "We will not sue you.",
        "We won't contact your employer.",
        "We are not going to garnish your wages.",
        "No one will come to your house.",
        "We will never tell your family.",
        "We cannot charge you a processing fee.",
        "We will not sue you, garnish your wages, or report you to the police.",
        "Nobody from our office is going to come to your house or contact your family.",
    ],
)
def test_en_negation_suppresses(text: str) -> None:
    assert check_rules(text, EN) == []


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("If you don't pay we will sue.", "false-legal"),
        ("If you don't pay, we will garnish your wages.", "false-legal"),
        ("Don't make us come to your house.", "threat"),
        ("We won't hesitate to sue.", "false-legal"),
        ("We will not wait any longer, we will sue.", "false-legal"),
        ("We do not want to do this but we will call your employer.", "third-party-disclosure"),
    ],
)
def test_en_conditions_are_not_negations(text: str, category: str) -> None:
    assert category in categories(text, EN)


# --- quotation and scam warnings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ctx"),
    [
        ("有骗子冒充公安说“你涉嫌诈骗要抓你”，请勿相信。", ZH),
        ("谨防诈骗：不法分子会谎称「法院传票待签收」。", ZH),
        ("如有人要求您转账到私人账户，请勿相信。", ZH),
        ('Beware of scammers who say "a warrant will be issued for your arrest".', EN),
        ("Fraudsters may claim to be from the county sheriff; do not trust them.", EN),
    ],
)
def test_scam_warnings_do_not_trip(text: str, ctx: Context) -> None:
    assert check_rules(text, ctx) == []


@pytest.mark.parametrize(
    ("text", "ctx", "category"),
    [
        ("他让我转告你：“明天就找上门”。", ZH, "threat"),
        ("我们的经理说：「再不还就冻结你的银行卡」", ZH, "false-legal"),
        ('Our manager says: "we will have you arrested".', EN, "false-legal"),
    ],
)
def test_a_quoted_threat_without_distancing_still_trips(
    text: str, ctx: Context, category: str
) -> None:
    assert category in categories(text, ctx)


# --- fact conditions ----------------------------------------------------------------------


def _facts(lang: str, jurisdiction: str = "cn", **facts: object) -> Context:
    return Context(lang=lang, jurisdiction=jurisdiction, facts=Facts(**facts))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("若本月25日前仍未还款，我司将向人民法院提起诉讼。", "zh"),
        ("If the balance is not resolved, our client may file a lawsuit.", "en"),
    ],
)
def test_a_lawsuit_mention_depends_on_the_facts(text: str, lang: str) -> None:
    assert "false-legal" in categories(text, _facts(lang))  # unknown: strict
    assert "false-legal" in categories(text, _facts(lang, legal_action_intended=False))
    assert "false-legal" not in categories(text, _facts(lang, legal_action_intended=True))
    assert "false-legal" not in categories(
        text, _facts(lang, legal_action_intended=True, time_barred=False)
    )
    barred = _facts(lang, legal_action_intended=True, time_barred=True)
    assert "false-legal" in categories(text, barred)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("判决生效后，法院可强制执行，冻结您的银行账户。", "zh"),
        ("We may garnish your wages under the court's order.", "en"),
    ],
)
def test_enforcement_needs_a_judgment(text: str, lang: str) -> None:
    assert "false-legal" in categories(text, _facts(lang))
    assert "false-legal" in categories(text, _facts(lang, legal_action_intended=True))
    assert "false-legal" not in categories(text, _facts(lang, judgment_obtained=True))


@pytest.mark.parametrize(
    ("text", "lang", "fee", "other"),
    [
        ("您本期逾期，按合同将收取滞纳金35元。", "zh", "滞纳金", "罚息"),
        ("A late fee of $25 has been added to your account.", "en", "late fee", "service fee"),
        ("您好，提前结清需支付提前还款手续费42元。", "zh", "提前还款手续费", "手续费x"),
    ],
)
def test_a_fee_is_allowed_only_when_the_contract_lists_it(
    text: str, lang: str, fee: str, other: str
) -> None:
    assert "unlawful-amount" in categories(text, _facts(lang))
    assert "unlawful-amount" in categories(text, _facts(lang, allowed_fees=(other,)))
    assert "unlawful-amount" not in categories(text, _facts(lang, allowed_fees=(fee,)))


def test_a_fee_never_allowed_stays_a_finding() -> None:
    text = "不还的话每天加收200元，利滚利。"
    assert "unlawful-amount" in categories(text, _facts("zh", allowed_fees=("罚息",)))


# --- required elements ---------------------------------------------------------------------


def _rules(text: str, ctx: Context) -> set[str]:
    return {f.rule for f in check_rules(text, ctx)}


def test_cn_first_contact_needs_the_institution_name() -> None:
    facts = Facts(first_contact=True, institution_name="瑞丰消费金融")
    ctx = Context(lang="zh", jurisdiction="cn", facts=facts)
    missing = check_rules("您好，您的借款已逾期，请尽快还款。", ctx)
    assert [(f.category, f.rule, f.span, f.start, f.end) for f in missing] == [
        (MISSING_ELEMENT, "cn.institution-identity", "", 0, 0)
    ]
    assert check_rules("您好，这里是瑞丰 消费金融，您的借款已逾期，请尽快还款。", ctx) == []
    later = Context(lang="zh", jurisdiction="cn", facts=Facts(institution_name="瑞丰消费金融"))
    assert check_rules("您好，您的借款已逾期，请尽快还款。", later) == []


def test_us_messages_need_the_collector_disclosure() -> None:
    call = Context(lang="en", jurisdiction="us", channel="call")
    assert _rules("Please call us back about your account.", call) == {"us.collector-disclosure"}
    assert _rules("This is an attempt to collect a debt. Please call us back.", call) == set()
    zh_us = Context(lang="zh", jurisdiction="us", channel="letter")
    assert _rules("请回电。", zh_us) == {"us.collector-disclosure"}
    assert _rules("本公司是债务催收机构，请回电。", zh_us) == set()


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_us_sms_and_email_need_an_opt_out(channel: str) -> None:
    ctx = Context(lang="en", jurisdiction="us", channel=channel)
    text = "This is from a debt collector. Please call us."
    assert _rules(text, ctx) == {"us.opt-out"}
    assert _rules(text + " Reply STOP to opt out.", ctx) == set()
    assert _rules(text + " To unsubscribe, click here.", ctx) == set()


@pytest.mark.parametrize("channel", ["call", "letter", "visit"])
def test_other_channels_need_no_opt_out(channel: str) -> None:
    ctx = Context(lang="en", jurisdiction="us", channel=channel)
    assert _rules("This is from a debt collector. Please call us.", ctx) == set()


def test_cn_needs_no_us_elements() -> None:
    assert check_rules("请回电。", Context(lang="en", jurisdiction="cn", channel="sms")) == []


# --- recipients outside DEBT_ROLES -----------------------------------------------------------


@pytest.mark.parametrize("role", ["contact_person", "third_party", "employer"])
def test_no_debt_information_to_a_third_party(role: str) -> None:
    zh = Context(lang="zh", recipient_role=role, jurisdiction="cn")
    found = check_rules("您好，你朋友张三在我司的借款已逾期，欠款5000元。", zh)
    assert {f.rule for f in found} >= {"zh.third-party.debt-info"}
    assert_spans("您好，你朋友张三在我司的借款已逾期，欠款5000元。", found)
    assert check_rules("您好，我们在联系王先生，能否请他回电4008-000-000？谢谢。", zh) == []

    us = Context(lang="en", recipient_role=role, jurisdiction="us", channel="sms")
    text = "Tell John he owes $5,000."
    assert "third-party-disclosure" in categories(text, us)
    # a collector disclosure to a third party is itself a disclosure; no opt-out is asked
    assert _rules("Hi, this is Jane from a debt collector, please call me.", us) == {
        "en.third-party.collector-disclosure"
    }
    assert check_rules("Hi, this is Jane from ABC Services; please call me back.", us) == []


@pytest.mark.parametrize("role", ["debtor", "spouse", "guarantor", "attorney"])
def test_debt_roles_may_hear_about_the_debt(role: str) -> None:
    ctx = Context(lang="zh", recipient_role=role, jurisdiction="cn")
    assert check_rules("您在我司的借款已逾期，欠款5000元，请尽快还款。", ctx) == []


# --- evasion, offsets, merging ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "爆你通讯录",
        "爆你通 讯 录",
        "爆你通-讯-录",
        "爆你通*讯*录",
        "爆你通\u200b讯\u200b录",
        "爆你通訊錄",
    ],
)
def test_evasion_between_chinese_characters(text: str) -> None:
    found = check_rules(text, ZH)
    assert [f.category for f in found] == ["third-party-disclosure"]
    assert found[0].span == text  # the span covers the original characters
    assert_spans(text, found)


def test_traditional_forms_match() -> None:
    assert "threat" in categories("再不還錢就找上門", ZH)


def test_full_width_and_case_do_not_hide_english() -> None:
    text = "You ＤＥＡＤＢＥＡＴ, pay up."
    found = check_rules(text, EN)
    assert [f.span for f in found] == ["ＤＥＡＤＢＥＡＴ"]


def test_offsets_after_removed_characters() -> None:
    text = "您好 。老 赖 ，请 还 钱。你这个骗子！"
    found = check_rules(text, ZH)
    assert_spans(text, found)
    assert [f.span for f in found] == ["老 赖", "你这个骗子"]


def test_overlapping_findings_of_one_category_keep_the_longest() -> None:
    found = check_rules("我们已经起诉你了", ZH)
    legal = [f for f in found if f.category == "false-legal"]
    assert len(legal) == 1
    assert legal[0].span == "已经起诉"


def test_findings_are_sorted_by_start() -> None:
    text = "你这个老赖，明天找上门，加我私人微信，把你照片发到朋友圈。"
    found = check_rules(text, ZH)
    assert [f.start for f in found] == sorted(f.start for f in found)
    assert {"insult", "threat", "private-payment", "expose"} <= {f.category for f in found}


def test_an_unknown_language_is_a_content_input_error() -> None:
    with pytest.raises(ContentInputError):
        check_rules("hello", Context(lang="fr"))


# --- properties -----------------------------------------------------------------------------

_CONTEXTS = st.builds(
    Context,
    lang=st.sampled_from(["zh", "en"]),
    recipient_role=st.sampled_from(RECIPIENT_ROLES),
    channel=st.sampled_from(CHANNELS),
    jurisdiction=st.sampled_from(["cn", "us"]),
    facts=st.builds(
        Facts,
        legal_action_intended=st.sampled_from([None, True, False]),
        time_barred=st.sampled_from([None, True, False]),
        judgment_obtained=st.sampled_from([None, True, False]),
        allowed_fees=st.sampled_from([(), ("罚息",), ("late fee",)]),
        institution_name=st.sampled_from([None, "瑞丰消费金融", "ABC Recovery"]),
        first_contact=st.booleans(),
    ),
)
_PIECES = st.sampled_from(
    [
        "通 讯 录",
        "爆",
        "不",
        "不会",
        "上门",
        "“",
        "”",
        "「",
        "」",
        '"',
        "'",
        "，",
        "。",
        "we will not",
        "sue",
        "garnish",
        "don't",
        "if you",
        "debt",
        "$5",
        "scam",
        "冒充",
        "罚息",
        "late fee",
        "\u200b",
        "-",
        " ",
        "老赖",
        "deadbeat",
        "還",
    ]
)
_TEXT = st.one_of(
    st.text(max_size=10_000),
    st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=400).map("".join),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXT, ctx=_CONTEXTS)
def test_spans_are_the_text_and_nothing_raises(text: str, ctx: Context) -> None:
    found = check_rules(text, ctx)
    assert_spans(text, found)
    assert [f.start for f in found] == sorted(f.start for f in found)
    for finding in found:
        if finding.category == MISSING_ELEMENT:
            assert (finding.span, finding.start, finding.end) == ("", 0, 0)
        else:
            assert finding.end > finding.start


def test_long_adversarial_texts_stay_fast() -> None:
    warm_up()
    for text in ("不" * 10_000, "上门" * 5_000, "a" * 10_000, "通 " * 5_000, "sue " * 2_500):
        started = time.perf_counter()
        check_rules(text, Context(lang="zh" if not text.isascii() else "en"))
        assert time.perf_counter() - started < 5.0


def test_typical_messages_are_checked_quickly() -> None:
    warm_up()
    messages = [bad for _, bad, _ in ZH_CASES] + [good for _, _, good in ZH_CASES]
    english = [bad for _, bad, _ in EN_CASES] + [good for _, _, good in EN_CASES]
    us = Context(lang="en", jurisdiction="us")
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for text in messages:
            check_rules(text, ZH)
        for text in english:
            check_rules(text + US_FOOTER, us)
    rate = rounds * (len(messages) + len(english)) / (time.perf_counter() - started)
    assert rate > 500  # the target is 2,000/s on one core; this bound only catches a blow-up


# --- wording families (generalisation beyond the training phrasings) -------------------------
# Each family: a violation in wording the lexicon did not start from, and a lawful near miss.

ZH_FAMILIES = [
    ("threat", "最近天干物燥，你家那间仓库可要当心火烛。", "最近天气干燥，请注意身体。"),
    ("threat", "手还想不想要了？", "您还想不想办理分期？"),
    ("threat", "你儿子每天下午4点从校门出来，我们都看着呢。", "您每天下午4点后都可以联系我们。"),
    ("threat", "老人家心脏不好，别让他为你的事受刺激。", "祝您和家人身体健康。"),
    ("false-legal", "你这事已经从民事变成刑事了。", "逾期是民事问题，请尽快与我们协商。"),
    ("false-legal", "材料我们已经推送到你户籍地派出所了。", "材料我们已经寄到您登记的地址了。"),
    ("false-legal", "再拖下去高铁飞机你都别想坐。", "您可以在高铁上用App还款。"),
    ("impersonation", "【金融纠纷调解中心】您的案件已登记。", "【易花分期】您的账单已出。"),
    ("impersonation", "我是街道网格员，来问问你借钱的事。", "我是易花分期的客服小王。"),
    ("insult", "穷酸样，几十块也拖。", "金额不大，您方便时处理即可。"),
    ("insult", "你也配跟我谈条件？", "您可以跟我们谈还款条件。"),
    ("third-party-disclosure", "你丈母娘要是知道这事会怎么想？", "您的家人不会收到任何消息。"),
    ("third-party-disclosure", "你同事我们会挨个打电话过去。", "我们会按约定时间给您本人打电话。"),
    ("expose", "照片已经P好了，就差发布。", "您的还款证明已经开好了。"),
    ("expose", "明天在你们村口用大喇叭喊一喊。", "明天我们会给您本人发短信提醒。"),
    (
        "collective-liability",
        "你这个当姐姐的，弟弟的窟窿不补谁补？",
        "这笔借款只由您弟弟本人承担。",
    ),
    ("collective-liability", "你家里谁有钱我们就找谁。", "我们只会联系您本人。"),
    ("borrow-to-repay", "网上口子多的是，下午就能到账。", "还款到账一般需要一个工作日。"),
    ("borrow-to-repay", "找老板预支点工资先还上。", "发工资后再还也可以，我们帮您延期。"),
    ("pretext", "我是你孩子学校的班主任，想确认下家庭住址。", "请确认您在App里登记的联系方式。"),
    ("unlawful-amount", "我们跑一趟的油钱也得你出。", "您只需还合同约定的本金和利息。"),
    ("overshadowing", "投诉这条路你就死了这条心吧。", "如需投诉，可拨打客服热线。"),
    ("overshadowing", "有异议？还清了再说。", "有异议的话，我们先暂停催收核实。"),
    ("private-payment", "扫我私人的收款二维码就行。", "请通过官方App扫码还款。"),
    ("private-payment", "先v我200表示诚意。", "请先通过App还200元。"),
]

EN_FAMILIES = [
    ("threat", "Nice car. Hope it has good insurance.", "Your car loan is paid off, congrats."),
    ("threat", "Don't make us send someone over.", "Don't forget your payment is due Friday."),
    ("threat", "It would be a real pity if that house got damaged.", "Your house payment is due."),
    ("threat", "I know your shift ends at midnight.", "We know this month has been hard."),
    ("false-legal", "Skipping payment is theft of services.", "Skipping a payment adds no fees."),
    ("false-legal", "That's a crime, and you know it.", "That's a common question."),
    (
        "false-legal",
        "They'll drag you into court over this.",
        "We'll walk you through the options.",
    ),
    ("false-legal", "The repo truck comes for the car tonight.", "You can keep using the car."),
    (
        "impersonation",
        "Treasury Offset Unit: your file is open.",
        "Oakline Recovery: your file is open.",
    ),
    (
        "impersonation",
        "This is the office of attorney Jane Ruiz.",
        "This is Jane from Oakline Recovery.",
    ),
    ("insult", "You sorry excuse for a father.", "Sorry we missed your call."),
    ("insult", "What kind of mother skips her bills?", "What kind of plan works for you?"),
    ("insult", "Listen, idi0t.", "Listen, we can help."),
    (
        "third-party-disclosure",
        "We'll be in touch with your HR department about this.",
        "We'll be in touch with you about this.",
    ),
    (
        "third-party-disclosure",
        "Everyone in your phone will hear about it.",
        "You can reach us by phone.",
    ),
    ("expose", "Let the whole internet know who you are.", "Let us know how we can help."),
    ("expose", "Word gets around in a small town.", "A small payment still helps."),
    ("expose", "Your name goes on our website Friday.", "Your plan starts on Friday."),
    (
        "collective-liability",
        "Your husband is on the hook for this too.",
        "Your husband is not responsible for this.",
    ),
    ("collective-liability", "Family pays family debts.", "Family emergencies happen."),
    ("borrow-to-repay", "Ask your grandma for the money.", "Ask us about a payment plan."),
    ("borrow-to-repay", "Cash out your 401(k) and we're square.", "Set up autopay and you're set."),
    ("borrow-to-repay", "Why not get a title loan on the truck?", "Why not set up a plan?"),
    ("borrow-to-repay", "The pawn shop downtown pays well.", "Our office downtown opens at 9."),
    ("pretext", "Someone turned in a wallet with your ID.", "Someone from our team will call."),
    (
        "pretext",
        "You may be entitled to an accident claim.",
        "You may be entitled to a hardship plan.",
    ),
    ("pretext", "We're doing reference checks on Ms. Lee.", "We received your check, Ms. Lee."),
    ("unlawful-amount", "Each call we make costs $40 extra.", "Each payment lowers your balance."),
    ("unlawful-amount", "The balance has tripled since May.", "The balance has dropped since May."),
    ("overshadowing", "Disputing is pointless.", "Disputing is your right."),
    ("overshadowing", "You waived your right to dispute.", "You have the right to dispute."),
    ("overshadowing", "No need to read the back, it's just legal stuff.", "Please read the back."),
    ("private-payment", "Zelle it to my girlfriend's number.", "Use Zelle to our company account."),
    ("private-payment", "Send PayPal friends and family.", "Pay through our website."),
    ("private-payment", "Let's switch to Signal.", "Let's set up a plan."),
]


@pytest.mark.parametrize(("category", "bad", "good"), ZH_FAMILIES)
def test_zh_wording_families(category: str, bad: str, good: str) -> None:
    assert category in categories(bad, ZH)
    assert not check_rules(good, ZH)


@pytest.mark.parametrize(("category", "bad", "good"), EN_FAMILIES)
def test_en_wording_families(category: str, bad: str, good: str) -> None:
    assert category in categories(bad, EN)
    assert not check_rules(good, EN)


def test_zh_a_visit_alone_is_not_a_threat() -> None:
    # Corpus convention (zh.NOTES.md): an announced or agreed visit is not a threat; coming
    # round to get the person ("找上门", "等我们上门你就知道") is.
    assert "threat" not in categories("按约定时间，我们周六上午上门确认还款计划。", ZH)
    assert "threat" in categories("别等我们找上门。", ZH)
    assert "threat" in categories("等我们上门你就知道了。", ZH)


@pytest.mark.parametrize(
    ("text", "ctx"),
    [
        ("你这个当哥哥的先把钱垫上吧。", Context(lang="zh", recipient_role="third_party")),
        ("Family pays family debts.", Context(lang="en", recipient_role="contact_person")),
    ],
)
def test_pressing_someone_not_liable_discloses_the_debt(text: str, ctx: Context) -> None:
    found = categories(text, ctx)
    assert {"collective-liability", "third-party-disclosure"} <= found


def test_pressing_a_spouse_is_collective_liability_only() -> None:
    # A spouse may hear about the debt: pressing them is collective liability, not disclosure.
    ctx = Context(lang="zh", recipient_role="spouse")
    assert categories("你这个当老婆的先把钱垫上吧。", ctx) == {"collective-liability"}


def test_scam_warnings_and_myths_are_distanced() -> None:
    assert not check_rules("很多人以为逾期会坐牢，其实不会。", ZH)
    assert not check_rules("Fake 'prize' texts are going around. We don't send those.", EN)
    assert not check_rules("If an agent ever asks for gift cards, hang up.", EN)


# --- wording families (widened after the first blind measure) --------------------------------

EN_BROAD_FAMILIES = [
    (
        "threat",
        "Dodge me again and I'll knock it out of you in person.",
        "We will knock $50 off the balance if you pay this week.",
    ),
    (
        "threat",
        "Keep ignoring us and you might wind up in the hospital.",
        "If you are in the hospital, tell us and we will pause collection.",
    ),
    (
        "threat",
        "You and your family better watch your backs until this is paid.",
        "You and your family can reach us at 555-0100 any weekday.",
    ),
    (
        "threat",
        "Our field agents have your home address and will stop by tonight.",
        "We have updated your mailing address as you asked.",
    ),
    (
        "threat",
        "Next week we come back with a few guys, and not to talk.",
        "Next week we will mail you a statement with a few payment options.",
    ),
    (
        "threat",
        "Pay up or someone ends up with his legs broken.",
        "Your payment plan is broken into four equal parts.",
    ),
    (
        "pretext",
        "Hi, this is Carla from Riverside Gas and Electric, we need a safety check at his unit.",
        "Hi, this is Carla from Harbor Recovery about your account.",
    ),
    (
        "pretext",
        "You qualify for a utility rebate! Just send your employer's name and address.",
        "You qualify for a hardship plan; reply to set it up.",
    ),
    (
        "overshadowing",
        "No need to read the notice we sent, just pay the balance today.",
        "Please read the notice we sent; it explains your right to dispute.",
    ),
    (
        "overshadowing",
        "Requests for validation will not be honored on this account.",
        "Requests for validation will be answered within 30 days.",
    ),
    (
        "overshadowing",
        "Your window to dispute has already closed, so pay now.",
        "You have 30 days to dispute; we will pause collection while we check.",
    ),
    (
        "overshadowing",
        "Disputes are reviewed only after the balance is paid.",
        "Disputes are reviewed within 30 days of receipt.",
    ),
    (
        "borrow-to-repay",
        "There are loan apps that approve in minutes; grab one and pay us.",
        "You can pay us through the app or by phone.",
    ),
    (
        "borrow-to-repay",
        "Just charge the full balance to your Visa and we're done.",
        "We do not accept payment by credit card over the phone.",
    ),
    (
        "borrow-to-repay",
        "Take some equity out of the house and this goes away.",
        "This goes away once the settlement payment clears.",
    ),
    (
        "collective-liability",
        "If you won't pay, your parents will have to.",
        "If you won't pay now, we can talk about a plan.",
    ),
    (
        "impersonation",
        "COUNTY COURT ENFORCEMENT NOTICE:\nRespond within 24 hours.",
        "ACCOUNT UPDATE:\nYour plan payment posted.",
    ),
    (
        "impersonation",
        "I'm calling from the DMV about your registration.",
        "I'm calling from Harbor Recovery about your balance.",
    ),
    (
        "expose",
        "Those pictures would go viral in about an hour.",
        "Those payments would clear in about an hour.",
    ),
    (
        "expose",
        "A banner naming you will go up at the entrance of your building.",
        "A receipt naming you as the payer will be mailed to you.",
    ),
]
EN_PRESSED = [
    "Your roommate lives there too, so he's on the hook for it.",
    "You share his debts now that you are married.",
]

ZH_BROAD_FAMILIES = [
    ("threat", "再拖下去，你那辆电动车就别想再骑了。", "您的车贷已经结清，感谢配合。"),
    (
        "threat",
        "兄弟几个这周去你老家转转，顺便看看你爸妈。",
        "我们这周会把还款计划寄到您老家地址。",
    ),
    ("threat", "惹急了，什么事我们都做得出来。", "您有什么困难都可以跟我们说。"),
    ("threat", "你儿子上的那个补习班，下课挺晚的吧。", "您好，还款日是每月十五号。"),
    (
        "pretext",
        "您好，这边是燃气公司，要上门做年度安检，您家几栋几号？",
        "您好，这边是瑞丰消费金融，想和您确认还款计划。",
    ),
    ("pretext", "您的医保账户待激活，请回复工作单位全称。", "您的还款账户已更新，请在App中查看。"),
    ("overshadowing", "你请律师也没用，照样得还。", "您可以咨询律师，也可以向我们提出异议。"),
    ("overshadowing", "投诉？你投了也是白投。", "如对金额有疑问，您可以拨打客服热线投诉。"),
    ("overshadowing", "敢去消协投诉，减免方案立马作废。", "减免方案有效期至本月底。"),
    ("borrow-to-repay", "随便找家网贷撸一笔出来先还我们。", "您可以在App里申请分期还款。"),
    ("borrow-to-repay", "你那辆车拿去押了，当天就有钱。", "您的车辆信息已登记，无需其他操作。"),
    ("borrow-to-repay", "找同事挨个借，一人五百就够了。", "您可以选择分三期还款。"),
    (
        "collective-liability",
        "你们两口子是一本账，他欠的就是你欠的。",
        "这笔借款是他个人名下的，您没有还款义务。",
    ),
    (
        "collective-liability",
        "父债子偿懂不懂？你不还，你儿子接着还。",
        "这笔借款只由借款人本人偿还。",
    ),
    (
        "impersonation",
        "我们是街道综治办的，今天必须给个说法。",
        "我们是瑞丰消费金融的贷后部门，想和您协商。",
    ),
    ("expose", "给你剪个视频发B站，让大家都看看。", "还款操作指引已发送至您的App消息中心。"),
    ("private-payment", "扫这个码付，别扫App里那个。", "请在App内扫码完成还款。"),
    ("private-payment", "钱直接打到我们组长卡上就行。", "请通过官方App或对公账户还款。"),
]


@pytest.mark.parametrize(("category", "bad", "good"), EN_BROAD_FAMILIES)
def test_en_broad_wording_families(category: str, bad: str, good: str) -> None:
    found = check_rules(bad, EN)
    assert category in {f.category for f in found}, found
    assert_spans(bad, found)
    assert check_rules(good, EN) == []


@pytest.mark.parametrize("text", EN_PRESSED)
def test_en_pressing_a_housemate_or_spouse(text: str) -> None:
    assert "collective-liability" in categories(text, EN)


@pytest.mark.parametrize(("category", "bad", "good"), ZH_BROAD_FAMILIES)
def test_zh_broad_wording_families(category: str, bad: str, good: str) -> None:
    found = check_rules(bad, ZH)
    assert category in {f.category for f in found}, found
    assert_spans(bad, found)
    assert check_rules(good, ZH) == []


@pytest.mark.parametrize(
    ("text", "ctx"),
    [
        # A quoted threat, and the warning in another sentence.
        (
            "Some customers got texts saying 'we know where you live'. We did not send them.",
            EN,
        ),
        ("有人跟您说「再不还就上门」？那不是我们的人，我们也没有委托任何人。", ZH),
        ("之前的外包人员骂您「老赖」，这是严重违规，非常抱歉。", ZH),
        # A question the sender answers in the next sentence.
        ("A court date? You have none: no lawsuit has been filed or planned.", EN),
        ("上门费？加急费？这些我们一样都不收。", ZH),
        ("Anyone asking for gift cards is not us.", EN),
        ("本次来电与推销、中奖无关。", ZH),
    ],
)
def test_reported_speech_and_answered_questions_do_not_trip(text: str, ctx: Context) -> None:
    assert check_rules(text, ctx) == [], check_rules(text, ctx)


@pytest.mark.parametrize(
    ("text", "ctx"),
    [
        ("We removed the $60 charge you questioned.", EN),
        ("Nothing about this account goes online.", EN),
        ("We've frozen the balance at $318 while the plan runs.", EN),
        ("I'd rather reach a deal with you than go further.", EN),
        ("我是催收专员，不是律师，也不代表法院。", ZH),
        ("您问我们是不是警察？不是的。", ZH),
        ("减免申请批下来了，您一次性还清即可。", ZH),
    ],
)
def test_lawful_wording_that_looked_like_a_violation(text: str, ctx: Context) -> None:
    assert check_rules(text, ctx) == [], check_rules(text, ctx)
