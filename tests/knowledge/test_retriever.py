"""The knowledge-base retriever on a small brand FAQ made here (no shared data)."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge.reranker import Thresholds, TreeEnsemble
from knowledge.retrieval_features import lcs_len
from knowledge.retriever import Entry, Hit, Retriever, decide_hits
from knowledge.text import MAX_CHARS, is_blank, normalize
from knowledge.tokenizer import Tokenizer, preload
from knowledge.vectorizer import TfidfIndex

FAQ = [
    Entry("refund", "怎么申请退款", ("退款流程是什么", "钱怎么退回来"), "在订单页点击申请退款。"),
    Entry("ship", "什么时候发货", ("下单后多久发货", "几天能发货"), "付款后48小时内发货。"),
    Entry("invoice", "可以开发票吗", ("怎么开发票", "发票怎么开"), "在订单详情页申请电子发票。"),
    Entry("member", "会员有什么权益", ("会员有什么好处",), "会员享受9折和生日礼。"),
    Entry("store", "线下门店在哪里", ("附近有没有实体店",), "请在小程序查看门店地图。"),
    Entry("iphone", "iPhone 15 怎么设置面容ID", ("苹果手机面容怎么设置",), "设置 > 面容ID与密码。"),
    Entry("password", "忘记登录密码怎么办", ("密码忘了怎么找回",), "点击登录页的忘记密码。"),
    Entry("cancel", "怎么取消订单", ("订单不想要了怎么取消",), "未发货订单可在订单页取消。"),
]


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    return Retriever.build(FAQ, user_terms=["面容ID"], synonyms={"苹果手机": "iphone"})


# -- text ---------------------------------------------------------------------------------------------
def test_normalize_full_width_traditional_case_emoji_space() -> None:
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("請問電腦怎麼開機") == "请问电脑怎么开机"
    assert normalize("  你好\u3000\t世界 😀🎉 ") == "你好 世界"
    assert normalize(None) == ""


def test_normalize_truncates_long_messages() -> None:
    out = normalize("退款" * 5000)
    assert len(out) == MAX_CHARS


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "😀😀🎉", "👍🏻", "？？！！", None])
def test_blank_inputs(text: str | None) -> None:
    assert is_blank(text)


# -- tokenizer ----------------------------------------------------------------------------------------
def test_user_terms_stay_whole_and_synonyms_apply() -> None:
    preload()
    preload()  # idempotent
    tok = Tokenizer(user_terms=["小布助手"], synonyms={"手机壳": "保护壳"})
    clean = tok.normalize("小布助手 推荐个手机壳")
    assert "保护壳" in clean
    words = tok.words(clean)
    assert "小布助手" in words and "保护壳" in words
    assert Tokenizer().words(Tokenizer().normalize("小布助手")) != ["小布助手"]


def test_char_ngrams_skip_punctuation() -> None:
    assert Tokenizer.char_ngrams("退款, 吗", 1, 2) == ["退", "款", "吗", "退款", "款吗"]


def test_lcs_len_matches_dynamic_programming() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = "".join(rng.choice(list("abcde"), rng.integers(0, 9)))
        b = "".join(rng.choice(list("abcde"), rng.integers(0, 9)))
        dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                dp[i + 1][j + 1] = dp[i][j] + 1 if x == y else max(dp[i][j + 1], dp[i + 1][j])
        assert lcs_len(a, b) == dp[-1][-1], (a, b)


def test_tfidf_scores_are_cosines() -> None:
    idx = TfidfIndex.fit([["a", "b"], ["b", "c", "c"], ["d"]])
    s = idx.scores(["b", "c", "c"])
    assert s[1] == pytest.approx(1.0, abs=1e-6)
    assert 0 < s[0] < 1 and s[2] == 0
    assert not idx.scores(["zzz"]).any()


# -- search -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("怎么申请退款", "refund"),
        ("退款流程是怎样的", "refund"),
        ("下单以后多久发货啊", "ship"),
        ("請問可以開發票嗎", "invoice"),  # traditional characters
        ("ＶＩＰ会员有啥权益？", "member"),  # full-width Latin, mixed Chinese/English
        ("iphone面容id怎么设置", "iphone"),
        ("苹果手机面容咋设置", "iphone"),  # synonym
        ("zenme 取消订单 ya", "cancel"),  # pinyin mixed in
        ("忘记密码了怎么办😭😭", "password"),  # emoji
    ],
)
def test_search_finds_the_entry(retriever: Retriever, query: str, expected: str) -> None:
    hits = retriever.search(query, k=3)
    assert hits and hits[0].entry_id == expected


def test_hits_are_sorted_and_bounded(retriever: Retriever) -> None:
    hits = retriever.search("怎么退款和开发票", k=5)
    assert 1 <= len(hits) <= 5
    assert len({h.entry_id for h in hits}) == len(hits)
    assert all(0.0 <= h.confidence <= 1.0 and 0.0 <= h.score <= 1.0 + 1e-6 for h in hits)
    assert [h.confidence for h in hits] == sorted((h.confidence for h in hits), reverse=True)


@pytest.mark.parametrize("query", ["", "   ", "😀🎉👍", "？？？", "\u200b"])
def test_blank_queries_hand_off(retriever: Retriever, query: str) -> None:
    assert retriever.search(query) == []
    decision = retriever.decide(query)
    assert decision.action == "handoff" and decision.hits == ()


def test_ten_thousand_character_message(retriever: Retriever) -> None:
    hits = retriever.search("我想问一下怎么申请退款" + "啊" * 10_000, k=3)
    assert len(hits) <= 3
    assert hits[0].entry_id == "refund"


def test_unrelated_query_is_not_answered(retriever: Retriever) -> None:
    assert retriever.decide("今天股市大盘走势如何").action != "answer"
    assert all(h.confidence < 0.05 for h in retriever.search("xyzzy qwerty"))


def test_exact_question_is_answered(retriever: Retriever) -> None:
    decision = retriever.decide("忘记登录密码怎么办")
    assert decision.action == "answer"
    assert decision.hits[0].entry_id == "password"


def test_decide_hits_thresholds() -> None:
    th = Thresholds(answer=0.6, suggest=0.3)
    hits = [Hit("a", 0.9, 0.5, ""), Hit("b", 0.8, 0.35, ""), Hit("c", 0.7, 0.1, "")]
    d = decide_hits(hits, th)
    # the best is middling: the list offers the first three, the third's own low score notwithstanding
    assert d.action == "suggest" and [h.entry_id for h in d.hits] == ["a", "b", "c"]
    assert decide_hits([Hit("a", 1.0, 0.6, "")], th).action == "answer"
    assert decide_hits(hits[2:], th).action == "handoff"
    with pytest.raises(ValueError):
        Thresholds(answer=0.2, suggest=0.5)


def test_serialise_round_trip(retriever: Retriever, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = retriever.to_bytes()
    loaded = Retriever.from_bytes(blob)
    for q in ["怎么申请退款", "苹果手机面容咋设置", "會員權益", ""]:
        assert loaded.search(q) == retriever.search(q)
    with pytest.raises(ValueError, match="rebuild"):
        Retriever.from_bytes(b"not an index")
    monkeypatch.setattr("knowledge.retriever.FORMAT_VERSION", 99)
    with pytest.raises(ValueError, match="rebuild"):
        Retriever.from_bytes(blob)


def test_duplicate_ids_and_empty_kb() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Retriever.build([FAQ[0], FAQ[0]])
    empty = Retriever.build([])
    assert empty.search("退款") == [] and empty.decide("退款").action == "handoff"
    assert Retriever.from_bytes(empty.to_bytes()).search("退款") == []


def test_build_accepts_mappings() -> None:
    r = Retriever.build([{"id": 7, "question": "积分怎么用", "similar": ["积分能换什么"], "answer": "x"}])
    assert r.search("积分能换啥")[0].entry_id == "7"


def test_tree_export_matches_sklearn() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from knowledge.retrieval_features import FEATURE_NAMES

    rng = np.random.default_rng(1)
    x = rng.random((600, len(FEATURE_NAMES))).astype(np.float32)
    y = (x[:, 0] + 0.3 * x[:, 5] + 0.1 * rng.random(600)) > 0.7
    model = HistGradientBoostingClassifier(max_iter=30, max_depth=4, random_state=0).fit(x, y)
    tree = TreeEnsemble.from_sklearn(model, Thresholds(0.7, 0.35))
    loaded = TreeEnsemble.from_bytes(tree.to_bytes())
    np.testing.assert_allclose(loaded.predict(x), model.predict_proba(x)[:, 1], rtol=1e-5, atol=1e-6)
    assert loaded.thresholds == Thresholds(0.7, 0.35)


def test_shipped_reranker_matches_the_features() -> None:
    """knowledge/reranker.npz must be retrained whenever the pair features change."""
    from knowledge.reranker import load_default
    from knowledge.retrieval_features import FEATURE_NAMES

    model = load_default()
    assert model.feature_names == FEATURE_NAMES
    assert int(model.feature.max()) < len(FEATURE_NAMES)
    assert model.predict(np.zeros((3, len(FEATURE_NAMES)), np.float32)).shape == (3,)


def test_model_trained_on_other_features_is_refused() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from knowledge.retrieval_features import FEATURE_NAMES

    x = np.random.default_rng(0).random((200, len(FEATURE_NAMES) - 1)).astype(np.float32)
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, x[:, 0] > 0.5)
    tree = TreeEnsemble.from_sklearn(model, Thresholds(0.7, 0.35))
    tree.feature_names = FEATURE_NAMES[:-1]
    with pytest.raises(ValueError, match="retrain"):
        TreeEnsemble.from_bytes(tree.to_bytes())


def test_identical_flag_marks_only_the_verbatim_candidate(retriever: Retriever) -> None:
    from knowledge.retrieval_features import FEATURE_NAMES

    idx, feats, _ = retriever.candidates("怎么取消订单!")
    flag = feats[:, FEATURE_NAMES.index("identical")]
    assert [retriever.texts[int(i)] for i in idx[flag == 1]] == ["怎么取消订单"]
    assert flag.sum() == 1


def test_features_carry_no_absolute_length() -> None:
    """Scale-free features: the same edit on a short and a long question gives bounded, comparable values."""
    from knowledge.retrieval_features import Prepared, pair_features

    tail = "请问在哪里操作比较方便快捷" * 3
    docs = [list("怎么取消订单"), list("怎么取消订单" + tail)]
    idx = TfidfIndex.fit(docs)
    short = pair_features(Prepared("怎么取消订单", ()), [Prepared("怎么取消订单吗", ())], *([np.ones(1)] * 3), idx, idx)
    long = pair_features(
        Prepared("怎么取消订单" + tail, ()),
        [Prepared("怎么取消订单" + tail + "吗", ())],
        *([np.ones(1)] * 3),
        idx,
        idx,
    )
    assert np.all(np.abs(short) <= 5) and np.all(np.abs(long) <= 5)  # ratios, shares and IDFs only
