// Every Chinese label the pages show for a code the API or the live room
// sends: one map per kind of code, here and nowhere else. Pages look a code
// up with `labelOf(MAP, code)`, which falls back on the code itself.

/** The name for `code` in `map`, or the code when the map has none. */
export function labelOf(map, code) {
  return map[code] ?? code;
}

// --- events --------------------------------------------------------------------

export const EVENT_STATUS = {
  draft: "筹备中",
  announced: "已发布公告",
  rescheduled: "已调整时间",
  live: "直播中",
  ended: "已结束",
  materials_published: "材料已公开",
  cancelled: "已取消",
};

/** The event's status as the moderator console's status line says it. */
export const CONSOLE_STATUS = {
  announced: "已发布公告，未开播",
  rescheduled: "已调整时间，未开播",
  live: "直播中",
  ended: "已结束",
  materials_published: "已结束，材料已公开",
  cancelled: "已取消",
};

export const FORM = { online: "线上直播", offline: "线下", online_offline: "线上线下结合" };
export const KIND = { open_day: "政务开放日", lecture: "政策公开讲" };

/** The programme's link to the live room, by the event's status (none: no link). */
export const LIVE_LINK = { live: "进入直播互动", announced: "直播互动页", rescheduled: "直播互动页", ended: "查看互动记录" };

/** The parts an announcement must state (`error.details.missing` of `announcement_incomplete`). */
export const ANNOUNCEMENT_PART = {
  starts_at: "活动时间",
  duration_minutes: "活动时长",
  agenda: "活动流程",
  participation: "网民参与方式",
  host_units: "主办单位",
};

export const DEADLINE_KIND = {
  announcement: "活动公告",
  selection_notice: "遴选通知",
  materials: "材料公开",
};

export const DEADLINE_STATE = {
  met: "按时完成",
  late: "逾期完成",
  open: "未到期",
  overdue: "已逾期",
  not_applicable: "不适用",
  unscheduled: "待定",
  calendar_missing: "缺少工作日历",
};

// --- opinions ------------------------------------------------------------------

export const ADOPTION = {
  pending: "待处理",
  adopted: "已采纳",
  partly_adopted: "部分采纳",
  not_adopted: "暂不采纳",
  answered: "已解答",
  under_study: "研究中",
};
export const SOURCE = { question: "提问", comment: "评论", poll_answer: "投票回答", offline: "线下收集" };
export const RATING = { satisfied: "满意", basically_satisfied: "基本满意", unsatisfied: "不满意" };
export const EXTENSION = { pending: "待批复", granted: "已批准", refused: "未批准" };

// --- open days in person (公开遴选, notices, check-in) ----------------------------

/** A person's place on an event's list. */
export const PARTICIPANT_STATUS = { applied: "已报名，待遴选", chosen: "已入选", reserve: "候补", withdrawn: "已撤回" };

/** How a person came to be on the list. */
export const PARTICIPANT_KIND = { applicant: "公开遴选", invited: "定向邀请", walk_in: "现场加入" };

/** How the unit chose among the applicants. */
export const SELECTION_METHOD = { draw: "随机抽选", manual: "按公告条件遴选" };

/** Where a selection announcement stands, on the unit's page. */
export const SELECTION_STATE = { draft: "未发布", soon: "已发布，报名未开始", open: "报名中", closed: "已截止", chosen: "已选定" };

/** Whether the sign-up form asks for an optional field (街道/镇, the reason). */
export const FIELD_RULE = { hidden: "不询问", optional: "选填", required: "必填" };

/** Why a person on the list was sent a text message. */
export const MESSAGE_KIND = { notice: "参加通知", reschedule: "改期通知", cancel: "取消通知" };

/** Groups a unit often wants represented (suggestions in the announcement's editor). */
export const GROUP_PRESETS = ["人大代表", "政协委员", "企业", "社区居民", "家长", "其他"];

// --- the live room -------------------------------------------------------------

/** The connection indicator's text, by the live client's state. */
export const CONNECTION = { idle: "连接中", connecting: "连接中", open: "已连接", reconnecting: "重新连接中", closed: "已断开" };

/** The viewer's own post, by its moderation status. */
export const OWN_STATUS = { pending: "待审核", rejected: "未通过", hidden: "已被隐藏", approved: "已公开" };

/**
 * The screen's categories (config/screen/words.toml) in the console's words. An
 * operator's own list may name others: those show the word alone, never the
 * category's ASCII name.
 */
export const SCREEN_CATEGORY = { ads: "广告推广", fraud: "疑似诈骗", abuse: "不文明用语", "personal-data": "个人信息" };

export const POLL_KIND = { single_choice: "单选", multiple_choice: "多选", rating: "评分", open_text: "开放回答" };
export const POLL_STATUS = { draft: "草稿", open: "进行中", closed: "已结束" };

// --- errors --------------------------------------------------------------------

/** The HTTP API's error codes (`{"error": {"code", "message"}}`). */
export const API_ERROR = {
  code_wrong: "验证码不正确",
  code_expired: "验证码已失效，请重新获取",
  too_many_codes: "获取验证码太频繁",
  sms_unavailable: "短信发送失败，请稍后重试",
  network: "无法连接服务器，请稍后重试",
  invalid: "填写的内容不符合要求",
  invalid_body: "提交的内容不完整或格式不对",
  malformed_json: "提交的内容格式不对",
  bad_query: "查询条件有误",
  bad_path: "地址有误",
  unauthorized: "登录已失效，请重新登录",
  forbidden: "没有权限执行此操作",
  not_found: "记录不存在或已删除",
  conflict: "记录已被他人修改或已处理，请刷新后重试",
  wrong_status: "当前状态下不能这样操作",
  video_required: "政策公开讲需要填写视频链接",
  announcement_incomplete: "公告内容不完整",
  calendar_missing: "缺少该年份的工作日历",
  use_reschedule: "已发布公告的活动改时间须通过“调整时间”并报备",
  no_public_selection: "本活动没有公开遴选参与者",
  not_ended: "活动结束后才能这样操作",
  already_published: "已经发布过了",
  signup_closed: "报名未开始或已截止",
  already_signed_up: "这个手机号已经报过名了，每个手机号只能报名一次",
  capacity_reached: "名单已达到场地容纳人数",
  no_host: "活动没有主办单位",
  rate_limited: "操作太频繁，请稍后再试",
  verification_required: "请先验证手机号",
  invalid_input: "填写的内容不符合要求",
  invalid_credentials: "用户名或密码不正确",
  unsupported_media_type: "提交的内容格式不对",
  method_not_allowed: "不支持这种操作",
  unavailable: "服务暂时不可用，请稍后重试",
  bad_body: "提交的内容过大或不完整",
  body_timeout: "上传超时，请检查网络后重试",
};

/** Chinese names of the fields the API names in `error.details.field`. */
export const FIELD = {
  code: "活动编号",
  kind: "活动类型",
  title: "活动名称",
  theme: "主题",
  unit: "主办单位",
  host_units: "主办单位",
  form: "活动形式",
  summary: "简介",
  starts_at: "开始时间",
  duration_minutes: "活动时长",
  venue: "地点",
  agenda: "活动流程",
  participation: "网民参与方式",
  stream_url: "直播地址",
  audience_limit: "人数上限",
  notified_at: "通知时间",
  reason: "理由",
  name: "姓名",
  group: "群体",
  street: "街道/镇",
  phone: "手机号",
  video_url: "视频链接",
  text: "内容",
  places: "现场名额",
  opens_at: "报名开始时间",
  closes_at: "报名截止时间",
  reply_by: "结果告知日期",
  groups: "群体与比例",
  capacity: "场地容纳人数",
  bring: "携带物品与签到方式",
  organisation: "单位/身份",
  chosen: "入选名单",
  reserves: "候补名单",
  seed: "随机种子",
  nickname: "姓名",
  "in_person.group": "发言人群体",
  leader: "职务",
  unit_id: "主办单位",
  fields: "报名表字段",
};

/** What a change report changed: its fields in Chinese. */
export const CHANGED_FIELD = {
  starts_at: "开始时间",
  duration_minutes: "时长（分钟）",
  status: "状态",
  venue: "地点",
  agenda: "活动流程",
  participation: "网民参与方式",
  form: "活动形式",
  host_units: "主办单位",
};

/** The kinds of change reports (报备). */
export const CHANGE_KIND = { reschedule: "改期", cancel: "取消", change: "变更公告内容" };

/** The live room's error codes (`error` frames), and the client's own `disconnected`. */
export const ROOM_ERROR = {
  invalid: "内容不符合要求（1–300 字）",
  rate_limited: "发送太频繁",
  slow_mode: "慢速模式已开启",
  interaction_paused: "主持方已暂停互动，请稍候",
  verification_required: "请先验证手机号再参与互动",
  event_closed: "活动已结束，不再接收提问",
  not_found: "内容不存在或已删除",
  not_visible: "该问题尚未公开",
  already_upvoted: "您已经点过赞了",
  already_voted: "您已经投过票了",
  poll_closed: "投票已结束",
  invalid_option: "选项无效",
  too_many_choices: "选择的项数超过上限",
  invalid_vote: "请先选择或填写",
  forbidden: "没有权限执行此操作",
  unauthorized: "登录已失效，请重新登录",
  wrong_status: "当前状态下不能这样操作",
  unavailable: "服务暂时不可用，内容未保存，请重试",
  disconnected: "连接已断开，请稍后重试",
  banned: "您已被禁止参与本场互动",
  not_a_question: "评论不能点赞、置顶或回答",
  not_a_comment: "只有评论可以转为提问",
  invalid_nickname: "昵称无效（1–20 个字），将以“网友”显示",
};

// --- the text feed (图文直播) ----------------------------------------------------

/** Why an image for the text feed was refused, by the upload's HTTP status. */
export const FEED_IMAGE_ERROR = {
  413: "图片太大：不能超过 2 MB",
  415: "只能上传 PNG、JPEG、WebP 或 GIF 格式的图片",
  422: "图片尺寸太大：长和宽都不能超过 8000 像素",
};
