"""A small brand FAQ written for the semantic retriever's tests (no shared data)."""

from __future__ import annotations

from knowledge.retriever import Entry

FAQ = [
    Entry("shipping-fee", "运费怎么收取？满多少包邮？", (), "单笔订单实付满99元包邮，不满收取8元运费。"),
    Entry("ship-time", "下单后多久发货？", (), "现货商品付款后48小时内发货。"),
    Entry("return", "收到的商品可以退货吗？", (), "签收后7天内未拆封商品可申请无理由退货。"),
    Entry("invoice", "可以开发票吗？", (), "在订单详情页申请电子发票，支持增值税专用发票。"),
    Entry("sunscreen", "防晒霜的防晒指数是多少？", (), "我们的防晒霜为SPF50+ PA++++，适合户外使用。"),
    Entry("allergy", "用了产品皮肤过敏怎么办？", (), "请立即停用并用清水洗净，严重时及时就医，并联系客服。"),
    Entry("counters", "线下专柜在哪里？", (), "全国30个城市的百货商场有专柜，可在小程序查看门店地图。"),
    Entry("member", "会员积分怎么用？", (), "积分可在积分商城兑换小样和优惠券。"),
    Entry("pregnancy", "孕妇可以用你们的产品吗？", (), "大部分产品孕期可用，含视黄醇的产品请避免使用。"),
    Entry("samples", "买东西送小样吗？", (), "每单满199元赠送两件小样。"),
]
