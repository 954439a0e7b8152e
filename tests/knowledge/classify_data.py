"""Small labelled data for the classifier tests, made here (the tests never read ../shared)."""

from __future__ import annotations

import random

from knowledge.classifier import Example

VOCAB = {
    "美妆": ["口红", "粉底液", "眼影", "面膜", "精华", "卸妆水", "防晒霜", "腮红"],
    "数码": ["手机", "耳机", "平板", "充电器", "相机", "笔记本电脑", "智能手表", "路由器"],
    "汽车": ["试驾", "保养", "轮胎", "发动机", "新能源车", "变速箱", "车险", "4S店"],
}
TEMPLATES = ["这款{}怎么样", "想了解一下{}", "最近在看{}，推荐吗", "{}哪个牌子好", "我的{}有点问题", "{}真不错"]
CHITCHAT = ["哈哈 早上好", "晚安", "谢谢", "好的", "在吗", "今天天气不错", "你好呀", "嗯嗯 知道了"]


def make_examples(n_per_label: int, seed: int = 0, with_chitchat: bool = True) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for label, words in VOCAB.items():
        for _ in range(n_per_label):
            out.append(Example(rng.choice(TEMPLATES).format(rng.choice(words)), (label,)))
    if with_chitchat:
        out += [Example(rng.choice(CHITCHAT) + rng.choice(["", "~", "!"]), ()) for _ in range(n_per_label)]
    rng.shuffle(out)
    return out
