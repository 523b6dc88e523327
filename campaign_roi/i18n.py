"""Every human-readable label of charts and reports, in English (``en``) and Chinese (``zh``).

One function, :func:`label`, looks a key up. Keys are namespaced: ``metric.gmv``,
``segment.churn_warning``, ``channel.campus_community``, ``model.markov``, ``step.register``,
``col.channel`` (table headers), ``axis.spend``, ``title.funnel``, ``section.channels``,
``def.cac`` (the report's "how each number is defined" footnote) and ``ui.*``.
The Chinese names follow the team's own wording (Q3 review): 新注册用户, 付费转化率, 获客成本 …
"""

from __future__ import annotations

from typing import Final

from campaign_roi.errors import UserError

LANGS: Final = ("en", "zh")

# key -> (en, zh)
_LABELS: Final[dict[str, tuple[str, str]]] = {
    # --- KPI metric names (SPEC §5) -------------------------------------------------------
    "metric.new_users": ("New users", "新注册用户"),
    "metric.active_users": ("Active users", "活跃用户数"),
    "metric.dau_peak": ("DAU peak", "日活峰值"),
    "metric.dau_avg": ("DAU average", "日均活跃用户"),
    "metric.payers": ("Payers", "付费用户数"),
    "metric.new_payers": ("New payers", "新增付费用户"),
    "metric.paid_conversion_rate": ("Paid conversion rate", "付费转化率"),
    "metric.gmv": ("GMV", "GMV"),
    "metric.refunds": ("Refunds", "退款金额"),
    "metric.net_revenue": ("Net revenue", "净收入"),
    "metric.spend": ("Spend", "投放花费"),
    "metric.cac": ("CAC", "获客成本(CAC)"),
    "metric.paid_cac": ("Paid CAC", "付费渠道获客成本"),
    "metric.passive_share": ("Passive acquisition share", "被动获客占比"),
    "metric.campaign_roi": ("Campaign ROI", "活动ROI"),
    "metric.m1_retention": ("M1 retention", "次月留存率(M1)"),
    "metric.invitee_m1_retention": ("Invitee M1 retention", "邀请用户次月留存率"),
    "metric.high_value_retention": ("High-value retention", "高价值用户留存率"),
    "metric.m3_payer_retention": ("Payer retention (M3)", "付费用户留存率(M3)"),
    # --- lifecycle segments (SPEC §6) -----------------------------------------------------
    "segment.new": ("New", "新用户"),
    "segment.silent_new": ("Silent new", "沉默新用户"),
    "segment.churned": ("Churned", "流失用户"),
    "segment.churn_warning": ("Churn warning", "流失预警用户"),
    "segment.high_value": ("High value", "高价值用户"),
    "segment.payer": ("Payer", "付费用户"),
    "segment.potential_payer": ("Potential payer", "潜力付费用户"),
    "segment.active": ("Active", "活跃用户"),
    # --- channel groups (SPEC §3) ---------------------------------------------------------
    "channel.campus_community": ("Campus community", "校园社群"),
    "channel.kol": ("KOL", "KOL"),
    "channel.feed_ads": ("Feed ads", "信息流广告"),
    "channel.referral": ("Referral", "邀请裂变/推荐"),
    "channel.direct": ("Direct", "直接访问"),
    "channel.organic": ("Organic", "自然流量"),
    "channel.other": ("Other", "其他"),
    # --- attribution models (SPEC §4) -----------------------------------------------------
    "model.first_touch": ("First touch", "首次触点"),
    "model.last_touch": ("Last touch", "末次触点"),
    "model.last_non_direct": ("Last non-direct", "末次非直接触点"),
    "model.linear": ("Linear", "线性"),
    "model.position_based": ("Position-based", "位置加权"),
    "model.time_decay": ("Time decay", "时间衰减"),
    "model.markov": ("Markov chain", "马尔可夫链"),
    "model.shapley": ("Shapley", "沙普利值"),
    # --- funnel steps (event types) -------------------------------------------------------
    "step.touch": ("Touch", "触达"),
    "step.register": ("Register", "注册"),
    "step.active": ("Active", "活跃"),
    "step.campaign_join": ("Join campaign", "参与活动"),
    "step.first_order": ("First order", "首单"),
    "step.order": ("Order", "下单"),
    "step.refund": ("Refund", "退款"),
    # --- table headers (SPEC §7 column names) ---------------------------------------------
    "col.metric": ("Metric", "指标"),
    "col.value": ("Value", "本期"),
    "col.previous": ("Previous period", "上期"),
    "col.change_qoq": ("QoQ", "环比"),
    "col.last_year": ("Last year", "去年同期"),
    "col.change_yoy": ("YoY", "同比"),
    "col.target": ("Target", "目标"),
    "col.attainment": ("Attainment", "目标完成率"),
    "col.channel": ("Channel", "渠道"),
    "col.spend": ("Spend", "花费"),
    "col.touches": ("Touches", "触达次数"),
    "col.new_users": ("New users", "新用户"),
    "col.paid_rate": ("Paid rate", "付费率"),
    "col.first_orders": ("First orders", "首单数"),
    "col.revenue": ("Revenue", "收入"),
    "col.cac": ("CAC", "获客成本"),
    "col.roas": ("ROAS", "ROAS"),
    "col.roi_net": ("Net ROI", "净ROI"),
    "col.model": ("Model", "归因模型"),
    "col.conversions": ("Conversions", "转化数"),
    "col.share": ("Share", "占比"),
    "col.step": ("Step", "步骤"),
    "col.users": ("Users", "用户数"),
    "col.conversion_from_start": ("Conversion from start", "累计转化率"),
    "col.conversion_from_previous": ("Conversion from previous", "步骤转化率"),
    "col.dropped": ("Dropped", "流失人数"),
    "col.median_time_from_previous": ("Median time from previous", "与上一步间隔中位数"),
    "col.cohort": ("Cohort", "同期群"),
    "col.cohort_size": ("Cohort size", "群组人数"),
    "col.period": ("Period", "周期"),
    "col.retention": ("Retention", "留存率"),
    "col.segment": ("Segment", "用户分层"),
    "col.from_segment": ("From segment", "原分层"),
    "col.to_segment": ("To segment", "新分层"),
    "col.campaign_id": ("Campaign ID", "活动ID"),
    "col.name": ("Campaign", "活动名称"),
    "col.start_date": ("Start", "开始日期"),
    "col.end_date": ("End", "结束日期"),
    "col.cost": ("Cost", "成本"),
    "col.participants": ("Participants", "参与人数"),
    "col.converted_payers": ("Converted payers", "转化付费用户"),
    "col.conversion_rate": ("Conversion rate", "转化率"),
    "col.roi": ("ROI", "ROI"),
    "col.cost_per_participant": ("Cost per participant", "人均参与成本"),
    "col.cost_per_payer": ("Cost per payer", "单个付费用户成本"),
    "col.attributed_revenue": ("Attributed revenue", "归因收入"),
    "col.date": ("Date", "日期"),
    # --- axes and legends -----------------------------------------------------------------
    "axis.spend": ("Spend", "花费"),
    "axis.revenue": ("Revenue", "收入"),
    "axis.amount": ("Amount", "金额"),
    "axis.measure": ("Measure", "指标"),
    "axis.cac": ("CAC (spend per new user)", "获客成本(每个新用户花费)"),
    "axis.roas": ("ROAS (revenue ÷ spend)", "ROAS(收入÷花费)"),
    "axis.users": ("Users", "用户数"),
    "axis.share": ("Share of conversions", "转化占比"),
    "axis.roi": ("ROI (revenue per 1 spent)", "ROI(每1元花费带来的收入)"),
    "axis.period": ("Periods since the cohort event", "距同期群事件的周期数"),
    "axis.cohort": ("Cohort", "同期群"),
    "axis.retention": ("Retention", "留存率"),
    "axis.date": ("Date", "日期"),
    "axis.new_users": ("New users", "新注册用户"),
    "axis.daily_revenue": ("Revenue", "收入"),
    "axis.step": ("Funnel step", "漏斗步骤"),
    "axis.status": ("Status", "状态"),
    "axis.reached": ("Reached step", "到达该步"),
    "axis.dropped": ("Dropped here", "在此流失"),
    "axis.from_segment": ("Segment at start", "期初分层"),
    "axis.to_segment": ("Segment at end", "期末分层"),
    "axis.segment": ("Segment", "用户分层"),
    "axis.channel": ("Channel", "渠道"),
    "axis.model": ("Attribution model", "归因模型"),
    "axis.campaign": ("Campaign", "活动"),
    "axis.break_even": ("Break-even (1:1)", "盈亏平衡(1:1)"),
    # --- report titles ---------------------------------------------------------------------
    "report.period_title": ("Growth review", "增长复盘"),
    "report.campaign_title": ("Campaign review", "活动复盘"),
    # --- chart titles ---------------------------------------------------------------------
    "title.kpi_cards": ("Key metrics", "核心指标"),
    "title.channel_cac": ("CAC by channel", "各渠道获客成本"),
    "title.channel_roas": ("ROAS by channel", "各渠道ROAS"),
    "title.spend_vs_revenue": ("Spend vs revenue by channel", "各渠道花费与收入"),
    "title.attribution_comparison": (
        "Share of conversions by channel under each model",
        "不同归因模型下各渠道转化占比",
    ),
    "title.funnel": ("Funnel and drop-off", "转化漏斗与流失"),
    "title.retention_heatmap": ("Cohort retention", "同期群留存"),
    "title.segment_bars": ("Lifecycle segments", "用户生命周期分层"),
    "title.segment_migration": ("Segment migration", "用户分层迁移"),
    "title.campaign_roi": ("Campaign ROI", "活动ROI"),
    "title.daily_new_users": ("Daily new users by channel", "各渠道每日新注册用户"),
    "title.daily_revenue": ("Daily revenue by channel", "各渠道每日收入"),
    # --- report sections ------------------------------------------------------------------
    "section.kpis": ("Key metrics", "核心指标"),
    "section.kpi_table": ("All metrics", "全部指标"),
    "section.channels": ("Channels: CAC and ROAS", "渠道:获客成本与ROAS"),
    "section.attribution": ("Attribution", "归因分析"),
    "section.funnel": ("Funnel", "转化漏斗"),
    "section.retention": ("Retention", "留存分析"),
    "section.segments": ("Segments", "用户分层"),
    "section.campaigns": ("Campaigns", "运营活动"),
    "section.daily": ("Daily trends", "每日趋势"),
    "section.definitions": ("How each number is defined", "指标口径说明"),
    # --- other UI text --------------------------------------------------------------------
    "ui.period": ("Period", "统计周期"),
    "ui.data_range": ("Data range", "数据范围"),
    "ui.generated_at": ("Generated", "生成时间"),
    "ui.compare": ("QoQ / YoY", "环比 / 同比"),
    "ui.qoq": ("QoQ", "环比"),
    "ui.yoy": ("YoY", "同比"),
    "ui.of_target": ("of target", "目标完成"),
    "ui.target": ("Target", "目标"),
    "ui.no_data": ("n/a", "无数据"),
    "ui.offline_note": (
        "This report is a single self-contained file: it works offline.",
        "本报告为单个独立文件,可离线查看。",
    ),
    "ui.retention_note": (
        "Empty cells: the period has not ended for every member of the cohort yet.",
        "空白单元格:该同期群尚有成员的观察期未结束。",
    ),
    "ui.funnel_note": (
        "Median time from the previous step, in hours.",
        "与上一步间隔中位数,单位:小时。",
    ),
    "ui.funnel_subtitle": (
        "Pale red: users lost since the previous step",
        "浅红色:相对上一步流失的用户",
    ),
    "ui.hours": ("h", "小时"),
    "ui.chart_error": ("This chart could not be drawn", "图表无法显示"),
    "ui.footer": ("Made with campaign-roi", "由 campaign-roi 生成"),
    "ui.default_title": ("Growth review", "用户增长复盘"),
    # --- "how each number is defined" (consistent with SPEC §5) ---------------------------
    "def.new_users": (
        "Users whose first register event falls in the period.",
        "首次注册发生在本期的用户数。",
    ),
    "def.active_users": (
        "Distinct users with a register, active, campaign_join or order event in the period.",
        "本期有注册、活跃、参与活动或下单行为的去重用户数。",
    ),
    "def.dau_peak": (
        "DAU peak / average: maximum / mean over the period's days of distinct active users.",
        "日活峰值/日均活跃:本期每日去重活跃用户数的最大值/平均值。",
    ),
    "def.payers": (
        "Payers: distinct users with an order in the period; new payers: users whose first"
        " order falls in the period.",
        "付费用户数:本期有下单的去重用户;新增付费用户:首单发生在本期的用户。",
    ),
    "def.paid_conversion_rate": (
        "Payers ÷ active users.",
        "付费用户数 ÷ 活跃用户数。",
    ),
    "def.gmv": (
        "GMV: sum of order amounts in the period; net revenue = GMV − refunds in the period.",
        "GMV:本期订单金额合计;净收入 = GMV − 本期退款金额。",
    ),
    "def.cac": (
        "CAC: total spend in the period ÷ new users (blended); paid CAC: paid channels' spend"
        " ÷ new users attributed to paid channels (last non-direct touch, register).",
        "获客成本:本期总花费 ÷ 新注册用户(综合口径);付费渠道获客成本:付费渠道花费 ÷"
        " 归因(末次非直接触点,注册)到付费渠道的新用户。",
    ),
    "def.passive_share": (
        "New users attributed (last non-direct touch) to passive channels (referral, organic,"
        " direct) ÷ new users.",
        "归因(末次非直接触点)到被动渠道(邀请裂变/推荐、自然流量、直接访问)的新用户 ÷ 新注册用户。",
    ),
    "def.campaign_roi": (
        "Revenue of campaigns starting in the period ÷ their cost, written 1:x (every 1 spent"
        " returned x).",
        "本期开始的活动收入合计 ÷ 活动成本合计,记作 1:x(每投入1元带来x元收入)。",
    ),
    "def.m1_retention": (
        "Of users registered in the period whose day 30–59 window has ended: share active in"
        " days 30–59 after registering. Invitee retention: the same for invited users.",
        "本期注册且第30–59天观察期已结束的用户中,在注册后第30–59天仍活跃的比例;"
        "邀请用户留存率为被邀请新用户的同一指标。",
    ),
    "def.high_value_retention": (
        "Over (user, month) pairs with orders ≥ 200 in the month: share active in the next"
        " month.",
        "月订单金额 ≥ 200 的(用户, 月份)组合中,下一个月仍活跃的比例。",
    ),
    "def.m3_payer_retention": (
        "Of users whose first order was in the period and whose day 90–119 window has ended:"
        " share active in days 90–119 after that first order.",
        "本期首次付费且第90–119天观察期已结束的用户中,在首单后第90–119天仍活跃的比例。",
    ),
    "def.compare": (
        "QoQ compares with the previous period of the same length, YoY with the same period a"
        " year earlier; both changes are relative. Attainment measures the value against the"
        " period's target from the config.",
        "环比对比上一个同长度周期,同比对比去年同期,均为相对变化;目标完成率为实际值相对配置中"
        "本期目标的完成程度。",
    ),
    "def.channels": (
        "Channels use last non-direct touch attribution: ROAS = revenue ÷ spend, net ROI ="
        " (revenue − spend) ÷ spend; empty when there is no spend.",
        "渠道表采用末次非直接触点归因:ROAS = 收入 ÷ 花费,净ROI = (收入 − 花费) ÷ 花费;"
        "无花费时为空。",
    ),
}


def label(key: str, lang: str = "en") -> str:
    """The label of ``key`` in ``lang`` (``en`` or ``zh``).

    Raises ``KeyError`` for an unknown key (a programming error) and ``UserError`` for an
    unknown language.
    """
    index = _lang_index(lang)
    return _LABELS[key][index]


def has_label(key: str) -> bool:
    """Whether ``key`` is a known label key."""
    return key in _LABELS


def value_label(kind: str, value: str, lang: str = "en") -> str:
    """The label of a data value (``kind`` = ``channel``, ``segment``, ``model``, ``step``,
    ``metric``), or the value itself when the team's data uses a name we have no label for
    (a custom channel group, a funnel step like ``campaign_join:brand_collab``)."""
    _lang_index(lang)
    key = f"{kind}.{value}"
    if key in _LABELS:
        return label(key, lang)
    if kind == "step" and ":" in value:
        head, _, tail = value.partition(":")
        if f"step.{head}" in _LABELS:
            return f"{label(f'step.{head}', lang)}: {tail}"
    return value


def label_keys() -> list[str]:
    """All label keys, sorted (for tests and docs)."""
    return sorted(_LABELS)


def _lang_index(lang: str) -> int:
    if lang not in LANGS:
        raise UserError(f"--lang must be one of {', '.join(LANGS)}, not {lang!r}.")
    return LANGS.index(lang)
