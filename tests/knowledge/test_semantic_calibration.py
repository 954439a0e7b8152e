"""Confidence per knowledge base: thresholds come from the KB served, move with it, respect the target
precision, and learn from the hub's feedback."""

from __future__ import annotations

import random

import pytest

from knowledge.calibration import Feedback, _Outcome, calibrate, calibrate_all, choose, contrast, perturb
from knowledge.encoder import Encoder
from knowledge.kb_eval import evaluate
from knowledge.retriever import Entry, Retriever
from knowledge.text import normalize
from tests.knowledge.semantic_data import FAQ

# A KB whose entries are far apart, and one full of near twins ("怎么打开X" / "怎么关闭X").
APART = [Entry(f"a{i}", q) for i, q in enumerate((
    "怎么申请退款", "什么时候发货", "可以开发票吗", "会员有什么权益", "线下门店在哪里", "忘记登录密码怎么办",
    "怎么取消订单", "快递丢了怎么办", "支持花呗分期吗", "商品有质量问题怎么处理", "怎么修改收货地址", "积分怎么兑换"))]
TWINS = [Entry(f"t{i}-{verb}", f"怎么{verb}{thing}") for i, thing in enumerate(
    ("蓝牙", "定位服务", "自动更新", "夜间模式", "消息通知", "省电模式")) for verb in ("打开", "关闭")]


def test_perturbations_differ_from_the_question() -> None:
    rng = random.Random(1)
    out = perturb("运费怎么收取满多少包邮", rng, "的一是了")
    assert len(out) >= 3 and all(o != "运费怎么收取满多少包邮" for o in out)
    assert len(set(out)) == len(out)


def test_contrasts_ask_something_else() -> None:
    rng = random.Random(0)
    assert "怎么关闭蓝牙" in contrast("怎么打开蓝牙", [], rng)
    assert "苹果8多少钱" in contrast("苹果7多少钱", [], rng)
    swapped = contrast("空气炸锅怎么清洗", ["洗碗机", "空气炸锅"], random.Random(3))
    assert swapped and all(s != "空气炸锅怎么清洗" for s in swapped)


def test_choose_meets_the_target_and_moves_with_it() -> None:
    rng = random.Random(0)
    pos = [_Outcome(c, c > 0.5 or rng.random() < 0.3, True) for c in (rng.random() for _ in range(400))]
    neg = [_Outcome(rng.random() * 0.8, False, False) for _ in range(400)]
    loose, stats = choose(pos, neg, 0.80)
    strict, strict_stats = choose(pos, neg, 0.95)
    assert strict.answer >= loose.answer
    assert stats["precision"] >= 0.80 and strict_stats["precision"] >= 0.95
    assert loose.suggest <= loose.answer


def test_choose_never_answers_when_the_target_cannot_be_met() -> None:
    pos = [_Outcome(0.9, False, True)] * 50
    neg = [_Outcome(0.95, False, False)] * 50
    th, stats = choose(pos, neg, 0.9)
    assert th.answer == 1.0 and stats["coverage"] == 0.0


def test_the_threshold_moves_with_the_knowledge_base(encoder: Encoder) -> None:
    apart, _ = calibrate(Retriever.build(APART, encoder=encoder), 0.9)
    twins, report = calibrate(Retriever.build(TWINS, encoder=encoder), 0.9)
    assert twins.answer > apart.answer  # near twins: more confidence needed before answering
    assert report["mode"] == "semantic" and report["unanswerable_probes"] > 0


def test_the_lexical_fallback_is_never_less_careful_than_shipped() -> None:
    retriever = Retriever.build(APART)
    thresholds, report = calibrate(retriever, 0.5)
    assert report["mode"] == "lexical" and thresholds.answer >= retriever.reranker.thresholds.answer


def test_target_precision_holds_on_a_synthetic_kb() -> None:
    """Calibrate on 24 entries; ask rewrites of them (answerable) and of 12 entries the KB does not hold."""
    indexed, missing = APART + TWINS[:12], [Entry(f"m{i}", q) for i, q in enumerate((
        "怎么联系客服", "发票抬头写错了怎么办", "退款到账了吗", "订单显示已签收但没收到", "怎么关闭自动续费",
        "门店几点关门", "会员怎么升级", "优惠券过期了还能用吗", "可以货到付款吗", "商品缺货什么时候补",
        "怎么打开省流量模式", "怎么关闭震动"))]
    retriever = Retriever.build(indexed)
    calibrate_all(retriever, 0.9)
    rng = random.Random(7)
    queries: list[tuple[str, str | None]] = []
    for e in indexed:
        queries += [(q, e.id) for q in perturb(normalize(e.question), rng, "")[:2]]
    for e in missing:
        queries += [(q, None) for q in [e.question, *perturb(normalize(e.question), rng, "")[:1]]]
    figures = evaluate(retriever, queries)
    answered = figures["coverage"] * figures["answerable"] + figures["false_answer_rate"] * (
        figures["queries"] - figures["answerable"])
    assert answered > 0
    assert figures["answered_precision"] >= 0.9
    assert figures["wrong_answer_rate"] <= 0.05


def test_feedback_that_an_answer_did_not_help_raises_the_threshold() -> None:
    retriever = Retriever.build(APART)
    base, _ = calibrate(retriever, 0.9)
    useless = [Feedback(q, "a0", ok=False) for q in ("怎么申请退货", "申请退款", "退款怎么申请呀", "怎么退款")] * 30
    raised, report = calibrate(retriever, 0.9, useless)
    assert report["feedback"] == len(useless)
    assert raised.answer >= base.answer
    unknown = calibrate(retriever, 0.9, [Feedback("x", "no-such-entry", ok=True)])[1]
    assert unknown["feedback"] == 0


@pytest.mark.parametrize("target", [0.8, 0.95])
def test_semantic_calibration_stores_both_modes(encoder: Encoder, target: float) -> None:
    retriever = Retriever.build(FAQ, encoder=encoder)
    reports = calibrate_all(retriever, target)
    assert set(reports) == {"semantic", "lexical"} and set(retriever.calibrated) == {"semantic", "lexical"}
    assert retriever.thresholds == retriever.calibrated["semantic"]
    assert retriever.lexical_view().thresholds == retriever.calibrated["lexical"]
    again = Retriever.from_bytes(retriever.to_bytes())  # a process without the encoder: lexical thresholds
    assert again.thresholds == retriever.calibrated["lexical"]
    assert reports["semantic"]["target_precision"] == target  # type: ignore[index]
