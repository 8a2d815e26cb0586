"""Word lists that shape matching: greetings, courtesies, stop words and question intents."""

# Removed anywhere in a question before matching: they say who is asked, not what.
GREETINGS = [
    "您好", "你好", "您们好", "你们好", "大家好", "各位好", "领导好", "老师好", "早上好", "上午好",
    "下午好", "晚上好", "在吗", "在不在", "有人吗", "请问一下", "请问下", "请问", "请教一下", "请教下",
    "请教", "麻烦问一下", "麻烦问下", "麻烦咨询一下", "麻烦咨询下", "麻烦问问", "麻烦了", "麻烦您",
    "麻烦", "打扰一下", "打扰了", "打扰", "咨询一下", "咨询下", "想咨询", "问一下", "问下", "问问",
    "想问一下", "想问下", "想问", "想了解一下", "想了解下", "谢谢", "感谢", "多谢", "辛苦了",
    "领导们", "各位领导", "老师们",
    # Listed whole: "各位领导" alone would leave the 好 of "各位领导好" behind as a word of the question.
    "各位领导好", "各位老师好", "领导们好", "老师们好", "各位同事好", "各位专家好", "各位好",
]

# Done what was asked, said on its own ("已填报，谢谢"); followed by anything else it is a report
# ("已登记，有个员工核酸阳性"), so these are not in THANKS below.
REPORTED = ("已填报", "已填好", "已填写", "已上报", "已报送", "已报备", "已提交", "已登记", "已完成", "已办好", "已整改")
# A message made only of these (and filler characters) is a courtesy: the bot stays quiet.
COURTESIES = [
    "收到", "好的", "好滴", "好嘞", "好哒", "好吧", "谢谢", "感谢", "多谢", "谢了", "辛苦", "明白",
    "了解", "知道", "清楚", "懂了", "ok", "okay", "thanks", "thank you", "thx", "嗯", "哦", "噢", "恩",
    "好", "行", "可以", "没问题", "对", "是的", "晓得", "领导", "老师", "指导员", "驻厂员", "大家",
    "各位", "您", "你", "们", "在吗", "在不在", "有人吗", "你好", "您好", "早上好", "晚上好",
    "下午好", "点赞", "赞", "棒", "太棒", "支持", "给力", "哈", "呵", "嘿", "早", "晚安", "再见",
    "拜拜", "打扰", "麻烦", "抱拳", "加油", "一起", "努力", "战疫", "必胜", "非常", "十分", "万分",
    "耐心", "解答", "回复", "答复", "帮助", "帮忙", "指导", "关心", "及时", "热心", "细致", "周到", "服务",
    "很", "真", "太", "已", "马上", "立即", "落实", "照办", "按要求", "执行", "安排",
    *REPORTED,
]
# ... except a daily all-clear: "已上报，今日全员体温正常", "已报备，员工均无发热" report that nothing
# is wrong (each clause ends in one of these or in a health word that faq/alarms.py finds denied), and the
# bot stays quiet as for "收到，今天无人发热".
ALL_CLEAR = ("体温正常", "体温均正常", "体温都正常", "无异常", "未见异常", "没有异常", "没异常", "一切正常",
             "均正常", "都正常", "全部正常", "情况正常")
# ... but not when it goes on to what did not go as it should ("已上报，但社区不认").
CONTRASTS = ("但", "可是", "不过", "还是", "却", "然而", "就是", "只是")
FILLER_CHARS = "了啦啊呀哈嘛的吧哦噢呢咯么 1234567890"

# Particles, pronouns and politeness that carry no topic.
STOPWORDS = frozenset(
    """
    的 了 吗 呢 啊 吧 呀 嘛 么 哈 啦 哦 噢 呐 咯 嘞 哇 么 之 与 及 和 跟 或 或者 还是 并 并且 而 而且
    是 是不是 是否 有没有 有 没有 在 于 对 对于 把 被 让 给 向 从 到 为 为了 由 以 以及 按 按照
    我 我们 咱 咱们 俺 俺们 你 你们 您 他 他们 她 它 自己 大家 各位 本 该 此 这 那 这个 那个 这些 那些
    这边 那边 这里 那里 这样 那样 这种 那种 一下 一些 一点 有点 有些 一个 个 些 里 上 下 中 内 外
    现在 目前 最近 近期 今天 明天 马上 已经 还 也 都 就 才 又 再 很 太 挺 比较 非常 特别 一定
    请问 请 问 问问 想 想要 想问 知道 了解 咨询 麻烦 谢谢 领导 老师 您好 你好 一下子
    需要 需 要 要不要 需不需要 用不用 得 必须 应该 应当 该不该 能 能不能 能否 可以 可不可以 可否 会 会不会
    怎么 怎么样 怎样 如何 咋 咋样 怎么办 咋办 咋整 怎么整 怎么弄 咋弄 啥 什么 哪些 哪个 哪 为什么 为啥 吗
    呢 么样 样 吧 啊 哎 唉 嗯 额 呃 哈哈 那么 那 然后 所以 因为 但是 不过 如果 的话 关于 方面 情况 问题
    事 事情 东西 方面 相关 具体 主要 一般 其他 其它 等 等等 之类 什么样 有关 规定 要求 政策 文件 上面
    做 搞 弄 整 办 进行 开展 实行 执行 落实 安排 处理 注意 注意事项
    不能 不 没 没有 不要 不用 着 过 说 人 后 以后 之后 前 以前 之前 个 有个 几个 让 叫 他 她 它 咱家 俺家
    吗 嘛 不行 行不行 行 可 算 算不算 行不 好不好 对不对 合适 合规 正常 可能 估计 听说 据说 还有 另外 以及
    时候 的时候 情况下 下来 起来 出来 进去 过来 一直 总是 老是 天天 每次 一次 这次 那次
    """.split()
)

# Words every question in these groups shares: they say little about which entry is meant.
DOMAIN_COMMON = {"疫情": 0.25, "防疫": 0.3, "防控": 0.3, "新冠": 0.25, "肺炎": 0.25, "期间": 0.2, "企业": 0.5}

# A message that starts with thanks or an acknowledgement and asks nothing is a courtesy, however it
# goes on ("好的，马上通知员工", "辛苦物业的同志了") ...
THANKS = ("谢谢", "感谢", "多谢", "辛苦", "收到", "好的", "好嘞", "明白", "了解", "知道了", "ok", "嗯",
          # Office-chat acknowledgements: read it, passed it on, arranged it.
          "已阅", "已读", "已转发", "已转给", "已转达", "已通知", "已安排", "已落实", "已知悉", "知悉", "收悉", "已收到")
# ... unless it reports a need ("谢谢！口罩不够用了"): that one is for the FAQ or a cadre.
NEEDS = ("不够", "缺", "没有了", "买不到", "急需", "急用", "帮忙", "帮帮", "需要", "能否", "不行", "出问题", "怎么办",
         # ... or that something went wrong ("收到，审核没通过").
         "没通过", "不通过", "驳回", "退回", "没反应", "没有反应", "没消息", "没回音", "失败", "报错")
# ... or a health alarm (faq/alarms.py): "已转发，有员工阳性" is a report, never a courtesy.
ALARMS = ("阳性", "阳了", "抗原阳", "确诊", "疑似", "发烧", "发热", "高烧", "高热", "低烧", "咳嗽", "乏力", "腹泻",
          "拉肚子", "呕吐", "嗓子疼", "咽痛", "密接", "密切接触", "时空伴随", "无症状感染", "感染", "中招", "送医",
          "住院", "体温异常", "体温偏高", "体温高", "核酸异常", "红码", "黄码", "两道杠", "晕倒", "受伤",
          # A fever clinic is a place ("发热门诊在二楼") unless someone went there.
          "去了发热门诊", "去发热门诊", "送发热门诊", "到发热门诊", "在发热门诊")
# Said of the prevention work or a rule passed on, not of a case: "做好发热监测", "如有发热立即上报".
ALARM_WORK_BEFORE = ("做好", "加强", "防范", "预防", "防止", "严防", "排查", "对")
ALARM_WORK_AFTER = ("监测", "防控", "排查", "筛查", "防护", "预防", "知识", "宣传", "门诊", "报告制度", "管控")
# A rule passed on: a condition before the alarm word ("如有发热"), or a report still to make ("有发热症状的
# 及时上报"; not "员工发烧已立即上报", which is one made).
ALARM_CONDITIONS = ("如有", "若有", "一旦", "如出现", "如发现", "凡有", "凡是")
ALARM_DUTIES = ("及时上报", "立即上报", "及时报告", "立即报告", "第一时间上报", "第一时间报告")
# A denial covers the alarm words just after it in its clause ("未发现发热、咳嗽", "没有人发烧") ...
DENIALS = ("没有", "没", "无", "未", "排除", "不是")
DENIAL_ENDS = ("但", "不过", "可是", "却", "只是", "然而", "的")  # 的: "没来上班的那个员工发烧了"
# ... and these deny nothing.
NOT_DENIALS = ("没问题", "没事", "没关系", "没想到", "没注意", "没办法", "无论", "无法", "是不是", "不知道", "没准")
# A clause about the weather, or a temperature below a line, says nothing of anyone's health.
NOT_A_FEVER = ("气温", "天气", "室温", "水温", "温度计", "以下", "以内", "低于", "不超过", "不到", "未超过", "正常")
# A clause that names these is about a person's temperature, so a bare 37.5 is one.
BODY_TEMPERATURE = ("体温", "测温", "温度", "发烧", "发热", "烧到", "量了")

QUESTION_MARKERS = (
    "吗", "么", "呢", "?", "怎", "咋", "啥", "什么", "如何", "能否", "是否", "要不要", "能不能", "可不可以",
    "需不需要", "有没有", "多少", "几", "哪", "谁", "请问", "问一下", "问下", "咨询", "想了解", "多久", "多长", "何时",
)

# Words that say what kind of answer is wanted; kept as weak evidence, since entries differ by them
# ("消毒几次" against "怎么消毒").
INTENTS = {
    "几次": "intent:frequency", "多少次": "intent:frequency", "几遍": "intent:frequency",
    "频次": "intent:frequency", "频率": "intent:frequency", "多久一次": "intent:frequency",
    "每天": "intent:frequency", "一天": "intent:frequency", "每日": "intent:frequency",
    "多久": "intent:duration", "几天": "intent:duration", "多快": "intent:duration", "多长": "intent:duration",
    "多少天": "intent:duration", "多长时间": "intent:duration", "什么时候": "intent:duration",
    "啥时候": "intent:duration", "何时": "intent:duration", "哪天": "intent:duration",
    "流程": "intent:procedure", "程序": "intent:procedure", "步骤": "intent:procedure",
    "找谁": "intent:who", "联系谁": "intent:who", "谁": "intent:who", "哪个部门": "intent:who",
    "方法": "intent:method", "方式": "intent:method", "办法": "intent:method",
}

# What a question asks about, beyond its topic: money, wages, liability, buying, an online system and
# trouble logging in to one, a form, a document's renewal, loss or change, a contact, tax. A question on
# one of these that an entry never mentions (in its phrasings or its answer) is most often a neighbour
# the FAQ does not cover: "口罩在哪买" against the entry on wearing masks, "公积金能缓缴吗" against
# social insurance; Matcher.decide escalates it. Narrow groups: an entry that names the system does not
# answer a forgotten password. A hitch in a process already under way (还没到账, 被拒了, 驳回) is a
# follow-up for a cadre to chase, unless the entry itself speaks of it ("贷款被拒了怎么办"); the day's case
# figures are news, not a rule ("今天新增几例确诊" against the entry on a case found on site).
ASPECTS = {
    "money": ("费用", "多少钱", "出钱", "掏钱", "付钱", "花钱", "谁出", "谁掏", "谁付", "承担", "收费", "免费",
              "报销", "价格", "价钱", "涨价", "降价", "成本", "利息", "钱", "费", "元"),
    "subsidy": ("补贴", "补助", "补偿", "奖励", "奖补", "资助", "贴息", "扶持资金", "专项资金"),
    "relief": ("减免", "免征", "缓缴", "延缴", "减半", "返还", "免收", "减收", "减租", "免租"),
    "refund": ("退还", "退税", "退钱", "退款", "退费", "能退吗", "能退不", "能不能退", "可以退吗", "退不退", "能退回", "可以退回"),
    "wage": ("工资", "薪酬", "薪水", "工钱", "加班费", "待遇", "底薪", "发薪"),
    "liability": ("工伤", "赔偿", "赔", "责任", "追究", "处罚", "罚款", "违法", "违规", "投诉", "举报", "纠纷",
                  "仲裁", "起诉", "打官司"),
    "appeal": ("申诉", "复议", "异议", "纠错", "更正", "误判"),
    "purchase": ("买", "买不到", "购买", "采购", "购置", "供应商", "厂家", "进货", "订购", "订货", "有卖"),
    "system": ("小程序", "app", "系统", "平台", "网站", "网址", "链接", "二维码"),
    "login": ("密码", "登录不", "登陆不", "登不上", "登不进", "登不了", "账号", "验证码", "打不开", "闪退", "报错", "失败",
              "导出", "后台"),
    "form": ("下载", "模板", "样表", "范本"),
    "document": ("到期", "过期", "延期", "延续", "续期", "年检", "年审", "换证", "核验"),
    "loss": ("补办", "补发", "遗失", "弄丢", "丢失"),
    "change": ("注销", "变更", "吊销", "转出", "迁出", "转让"),
    "contact": ("电话", "号码", "联系方式", "手机号", "热线", "地址"),
    "tax": ("税", "发票", "开票"),
    "accounting": ("科目", "记账", "入账", "做账", "账务"),
    "insurance": ("保险", "社保", "医保", "公积金", "养老", "失业金"),
    "payout": ("到账", "拨付", "兑现", "发放", "结算", "打款", "账户"),
    "family": ("家属", "老婆", "老公", "子女", "家人", "家里人"),
    "hitch": ("还没批", "还没审", "没审下来", "还没下来", "没批下来", "还没到账", "还没答复", "还没回复", "还没反馈",
              "还没通知", "还没复核", "还没拨", "没拨下来", "被拒", "拒了", "驳回"),
    "statistics": ("几例", "多少例", "新增多少", "新增几个", "累计确诊", "确诊人数", "病例数", "疫情数据"),
}

# Last characters of the names of things a rule is about: fees, taxes, certificates, insurances,
# funds, licences, payments, tickets (物业费, 关税, 健康证, 公积金, 营业执照, 贷款, 发票). Two questions
# that differ in such a name ask about different things, however much else they share.
TERM_ENDINGS = frozenset("费税证险金照款票息保")
# Naming words with those endings that name no such thing.
NOT_TERMS = frozenset({"风险", "危险", "信息", "消息", "浪费", "消费"})


# Verbs that colloquial Chinese splits around a measure or aspect word: 消一次毒, 请了假, 打个卡. Not 开会:
# 开了会 is as often "opened, will" (店开了会有人查吗).
SEPARABLE_VERBS = ("消毒", "请假", "洗手", "吃饭", "加班", "放假", "签字", "盖章", "打卡", "报备", "备案",
                   "理发", "帮忙", "换班", "洗澡", "测温", "戴口罩")


# What kind of answer a question wants (a time, how often, whom to ask, a number) and how an answer that
# gives it reads. A near miss often asks for what its entry's answer never states: "申请交上去几天能批"
# against an answer that names no time, "一只口罩多少钱" against one without a price.
_NUMBER = "[0-9零一二两三四五六七八九十百千万半]"  # answers are read after NFKC: digits are half-width
_TIMES = "(?!性)"  # 次 but not 一次性 (disposable)
ANSWER_KINDS = {
    "intent:duration": (
        _NUMBER + "+ *个?(工作日|自然日|天|日|小时|周|星期|个月|月|年|分钟)|[0-9]{1,2} *[:点时]|当天|当日|即日|即时|随时|立即|"
        "实时|即办|同步|之前|以前|之后|以后|之内|上午|下午|早上|晚上|月初|月底|年底|截止|另行|暂停|暂缓|暂不|尚未|每周|"
        "周[一二三四五六日]|星期[一二三四五六日天]"),
    "intent:frequency": (
        "每(天|日|周|班|小时|晚|早|餐|次|月|人|批|车|趟)|" + _NUMBER + "+ *(次" + _TIMES + "|遍)|一天|每隔|定时|定期|随时"),
    # Whom to ask: a body, a post or a line, not any 区 or 企业 an answer names.
    "intent:who": (
        "部门|[卫发经商建教农科人]委|委员会|管委会|局|办公室|办事处|指挥部|专班|中心|服务站|工作站|派出所|卫生院|医院|街道|社区|"
        "乡镇|村委|居委|政府|窗口|热线|电话|联系|银行|协会|商会|专员|负责人|网格员|驻厂员|指导员|驻企|干部|工作人员|物业"),
    "amount": (
        _NUMBER + "+ *(元|块|万|亿|%|成|个|人|名|家|台|只|米|平|倍|折|吨|件|箱|户|座|辆|份|套|支|张|度|°|mg|毫|克|升|"
        "ml|公斤|斤|kg|级|岁|周岁|小时|分钟|天|间|床|层|批|次" + _TIMES + "|班|桌|位|单|:)|免费|全额|减半|不收|不超过|不少于|"
        "以上|以下|以内"),
}
# A question asks for an amount or a count with these (for a time or a frequency, with the INTENTS above),
# read with its spaces removed. Not 好几个 or 十几个 (some, a dozen or so), nor 多少 after a telephone,
# a number, a hotline or a mobile (that asks for a contact: ASPECTS). 多少天 asks for both a time and a count.
AMOUNT_ASKED = ("(?<![十好这那前头两])几(个|成|人|名|家|份|台|辆|张|种|样|项|条|级|岁|层|间|桌|位|批|吨|斤|米|度|折|倍)|比例|"
                "上限|(?<![话码号线机式])(?<![话码号线机式]是)多少")
