// Shared by the event page and the staff workspaces (unit, bureau): DOM
// helpers, the JSON API with its error shape, Chinese labels, Beijing dates,
// sign-in and sign-out. Nothing here parses HTML: text goes in as text.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

/** A link; `href` is always a path on this site built by the page. */
export function link(text, href, className) {
  const a = el("a", className, text);
  a.href = href;
  return a;
}

/** A labelled control: `<label for>` plus the control, in a wrapper. */
export function field(labelText, control, className = "field") {
  const wrap = el("div", className);
  const label = el("label", null, labelText);
  if (!control.id) control.id = `f${++fieldCounter}`;
  label.htmlFor = control.id;
  wrap.append(label, control);
  return wrap;
}
let fieldCounter = 0;

export function select(options, value) {
  const s = el("select");
  for (const [v, text] of options) {
    const o = el("option", null, text);
    o.value = v;
    s.append(o);
  }
  if (value !== undefined && value !== null) s.value = value;
  return s;
}

export function button(text, onClick, className) {
  const b = el("button", className, text);
  b.type = "button";
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

/** An error from the API: `{"error": {"code", "message"}}`, or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    // What the server adds for a program: `{field}` of an invalid value,
    // `{missing: [...]}` of an incomplete announcement.
    this.details = details;
  }
}

/** Call the JSON API. Resolves with the body (null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const init = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "");
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = data?.error;
    throw new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? "", e?.details ?? null);
  }
  return data;
}

const ERROR_TEXT = {
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
  invalid_credentials: "用户名或密码不正确",
  unsupported_media_type: "提交的内容格式不对",
  method_not_allowed: "不支持这种操作",
  unavailable: "服务暂时不可用，请稍后重试",
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
  video_url: "视频链接",
};

/** A Chinese sentence for an API error; the server's own words follow in brackets. */
export function errorText(err) {
  let base = ERROR_TEXT[err?.code] ?? "操作失败，请重试";
  const field = FIELD[err?.details?.field];
  if (field && err.code === "invalid") base = `${field}：${base}`;
  return err?.message ? `${base}（${err.message}）` : base;
}

/** Show an outcome next to a control: `node` is a `role=status` / `role=alert` element. */
export function say(node, text, ok = false) {
  node.textContent = text;
  node.classList.toggle("msg-ok", ok);
  node.classList.toggle("msg-error", !ok && text !== "");
}

/** A message slot to put beside a control. */
export function messageSlot() {
  const p = el("p", "msg");
  p.setAttribute("role", "status");
  p.setAttribute("aria-live", "polite");
  return p;
}

export const EVENT_STATUS = {
  draft: "筹备中",
  announced: "已发布公告",
  rescheduled: "已调整时间",
  live: "直播中",
  ended: "已结束",
  materials_published: "材料已公开",
  cancelled: "已取消",
};
export const FORM = { online: "线上直播", offline: "线下", online_offline: "线上线下结合" };
export const KIND = { open_day: "政务开放日", lecture: "政策公开讲" };
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

/** A state tag: the word always, the colour only as a second cue. */
export function tag(text, kind) {
  return el("span", `tag tag-${kind}`, text);
}

const dateTime = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai",
  year: "numeric",
  month: "long",
  day: "numeric",
  weekday: "short",
  hour: "2-digit",
  minute: "2-digit",
});
const dayFormat = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" });

/** An instant in Beijing time, in words. */
export function when(iso) {
  return iso ? dateTime.format(new Date(iso)) : "时间待公告";
}

/** The Beijing calendar day (`YYYY-MM-DD`) of an instant. */
export function beijingDay(iso) {
  return dayFormat.format(iso ? new Date(iso) : new Date());
}

/** A percentage from a 0..1 rate, or "—" when there is nothing to divide by. */
export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10}%`;
}

/**
 * The signed-in staff member, or a redirect to the sign-in page (401).
 * Resolves with null when the role may not use the page (the page says so).
 */
export async function signedIn(roles) {
  let me;
  try {
    me = await api("GET", "/api/auth/me");
  } catch (err) {
    if (err.status === 401) {
      location.replace(`/login.html?next=${encodeURIComponent(location.pathname + location.search)}`);
      return new Promise(() => {});
    }
    throw err;
  }
  const who = $("who");
  if (who) who.textContent = me.display_name;
  const out = $("logout");
  if (out) {
    out.hidden = false;
    out.addEventListener("click", logout);
  }
  return roles.includes(me.role) ? me : null;
}

/** POST /api/auth/logout (it clears the HttpOnly cookie), then the sign-in page. */
export async function logout() {
  try {
    await api("POST", "/api/auth/logout");
  } catch {
    // Already signed out (401) or offline: the sign-in page is right either way.
  }
  location.assign(`/login.html?next=${encodeURIComponent(location.pathname + location.search)}`);
}

/** Fill a table body from rows of cells (text or nodes). */
export function rows(tbody, data, cells, empty = "暂无") {
  tbody.replaceChildren();
  if (data.length === 0) {
    const tr = el("tr");
    const td = el("td", "muted", empty);
    td.colSpan = tbody.closest("table")?.querySelectorAll("thead th").length || 1;
    tr.append(td);
    tbody.append(tr);
    return;
  }
  for (const item of data) {
    const tr = el("tr");
    for (const [label, cell] of cells(item)) {
      const td = el("td");
      td.dataset.label = label;
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell ?? "";
      tr.append(td);
    }
    tbody.append(tr);
  }
}
