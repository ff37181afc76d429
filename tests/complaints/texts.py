"""Narratives for the duplicate-grouping tests: one template filed with different details,
and genuine reports of the same kinds of harassment in different words."""

from __future__ import annotations

TEMPLATE = (
    "本人{name}，身份证号{id}，于{date}在贵平台借款{amount}元。逾期后，贵平台委托的催收人员"
    "多次拨打我的电话{phone}，并向我的亲友、同事发送短信，言语威胁，严重影响了我的正常生活和工作。"
    "根据相关规定，催收不得骚扰无关第三人，特此投诉，要求贵平台立即停止暴力催收，"
    "减免逾期产生的罚息和违约金，并向我书面道歉。"
)

FILLS = [
    {
        "name": "王小明",
        "id": "11010519491231002X",
        "date": "2026年3月5日",
        "amount": "5000",
        "phone": "13812345678",
    },
    {
        "name": "李秀英",
        "id": "310104198807150028",
        "date": "2026年4月18日",
        "amount": "12000",
        "phone": "13998765432",
    },
    {
        "name": "赵建国",
        "id": "44030519900101123X",
        "date": "2025年12月1日",
        "amount": "800",
        "phone": "15011112222",
    },
]


def template(i: int) -> str:
    return TEMPLATE.format(**FILLS[i % len(FILLS)])


# The same template with a sentence added and a phrase changed, as middlemen vary them.
EDITED = (
    template(1).replace("言语威胁", "辱骂恐吓").replace("特此投诉", "我已多次沟通无果，特此投诉")
)

GENUINE = [
    "从上个月开始，一个自称律师事务所的人每天给我打十几个电话，晚上十一点还在打，"
    "说再不还钱就去法院起诉我，还要让公安上门抓人。我已经说了下周发工资就还。",
    "催收员给我公司领导打电话，说我欠钱不还是老赖，让领导督促我还款，"
    "现在同事都知道了，我压力很大，领导也找我谈话，我觉得很丢人。",
    "上周六有两个人到我家门口，说是贷款公司的，在门上贴了催款单，"
    "还对邻居说我借钱不还。我母亲年纪大了，被吓得好几天睡不好。",
    "我已经还清了借款，但是他们还在给我发短信，说我还欠三千多块违约金，"
    "不还就上征信黑名单，还让我找别的平台借钱先还上。",
]
