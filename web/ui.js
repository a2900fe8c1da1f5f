// Small DOM helpers shared by the live pages. Text from users is only ever
// set with textContent or text nodes: nothing here parses HTML.

import { STATE_TEXT } from "./live-client.js";

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

/** The event id from `?event=ID`, or null. */
export function eventIdFromUrl() {
  const raw = new URLSearchParams(location.search).get("event");
  return raw && /^\d{1,15}$/.test(raw) ? Number(raw) : null;
}

const timeOnly = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit" });
const dateTime = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai",
  month: "long",
  day: "numeric",
  weekday: "short",
  hour: "2-digit",
  minute: "2-digit",
});

export function clock(iso) {
  return iso ? timeOnly.format(new Date(iso)) : "";
}

export function when(iso) {
  return iso ? dateTime.format(new Date(iso)) : "时间待公告";
}

/** Show the connection state in an element with class `conn` (colour by state). */
export function showConnection(node, state) {
  node.textContent = STATE_TEXT[state] ?? state;
  node.className = `conn conn-${state}`;
}

const ERRORS = {
  invalid: "内容不符合要求（1–300 字）",
  rate_limited: "发送太频繁",
  slow_mode: "慢速模式已开启",
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

/** A Chinese message for an error from the room (err.code, err.frame). */
export function errorText(err) {
  const base = ERRORS[err?.code] ?? "操作失败，请重试";
  const wait = err?.frame?.retry_after_ms;
  return wait ? `${base}，请 ${Math.ceil(wait / 1000)} 秒后再试` : base;
}

export const POLL_KIND = {
  single_choice: "单选",
  multiple_choice: "多选",
  rating: "评分",
  open_text: "开放回答",
};

export const POLL_STATUS = { draft: "草稿", open: "进行中", closed: "已结束" };

/**
 * A poll's results as CSS bars (choices, ratings) or a word list (open
 * text). Bar widths are set through the CSSOM, which the CSP allows.
 */
export function pollResults(poll, tally) {
  const box = el("div", "results");
  if (!tally) {
    box.append(el("p", "muted", poll.status === "open" ? "结果将在投票结束后公布" : "暂无结果"));
    return box;
  }
  box.append(el("p", "voters", `共 ${tally.voters} 人参与`));
  if (poll.kind === "open_text") {
    const words = el("ul", "words");
    const top = Math.max(1, ...tally.words.map((w) => w.count));
    for (const w of tally.words) {
      const size = Math.min(4, Math.ceil((w.count / top) * 4));
      const item = el("li", `word w${size}`, w.text);
      item.title = `${w.count} 人`;
      words.append(item);
    }
    if (tally.words.length === 0) words.append(el("li", "muted", "暂无回答"));
    box.append(words);
    return box;
  }
  const labels = poll.kind === "rating" ? ["1 分", "2 分", "3 分", "4 分", "5 分"] : poll.options;
  const total = tally.counts.reduce((a, b) => a + b, 0);
  const bars = el("ol", "bars");
  labels.forEach((label, i) => {
    const count = tally.counts[i] ?? 0;
    const share = total ? Math.round((count / total) * 100) : 0;
    const row = el("li", "bar-row");
    row.append(el("span", "bar-label", label));
    const track = el("span", "bar-track");
    const fill = el("span", "bar-fill");
    fill.style.width = `${share}%`;
    track.append(fill);
    row.append(track, el("span", "bar-count", `${count} 票 · ${share}%`));
    bars.append(row);
  });
  box.append(bars);
  if (poll.kind === "rating" && tally.average !== null && tally.average !== undefined) {
    box.append(el("p", "average", `平均 ${tally.average.toFixed(1)} 分`));
  }
  return box;
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

/**
 * Batch DOM updates: a burst of frames (a replay, a busy room) renders once.
 * A timer rather than requestAnimationFrame, which stops in hidden tabs.
 */
export function scheduler(render) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    setTimeout(() => {
      queued = false;
      render();
    }, 30);
  };
}
