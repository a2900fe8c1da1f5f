// The public page of one event (/event.html?id=ID): the announcement, the
// plan's deadlines, and after the broadcast the published replies with their
// adoption state, the counts, and the asker's rating. No sign-in.

import { $, VIEWER_TOKEN_KEY, api, button, deadlineItem, el, errorText, fact, foundText, idFromUrl, link, messageSlot, say, showBadge, stored, tag, when } from "./dom.js";
import { CHANGED_FIELD, CHANGE_KIND, EVENT_STATUS, FORM, KIND, RATING, SOURCE, labelOf } from "./labels.js";

const AFTER = new Set(["ended", "materials_published"]);

/** The event shown, once loaded (the reply search reads it). */
let shown = null;

function announcement(event) {
  document.title = `${event.title} · 民声`;
  $("title").textContent = event.title;
  $("kind").textContent = labelOf(KIND, event.kind);
  showBadge($("status"), event.status, labelOf(EVENT_STATUS, event.status));
  const dl = $("facts");
  dl.replaceChildren();
  fact(dl, "时间（北京时间）", when(event.starts_at));
  fact(dl, "时长", event.duration_minutes ? `${event.duration_minutes} 分钟` : null);
  fact(dl, "形式", labelOf(FORM, event.form));
  fact(dl, "地点", event.venue);
  fact(dl, "议程", event.agenda);
  fact(dl, "网民参与方式", event.participation);
  fact(dl, "主办单位", event.hosts.map((h) => h.short_name).join("、"));
  fact(dl, "活动简介", event.summary);
  fact(dl, "状态", labelOf(EVENT_STATUS, event.status));
  if (event.status === "cancelled") fact(dl, "取消原因", event.cancel_reason);
  $("announce").hidden = false;

  const live = $("live-link");
  live.replaceChildren();
  if (event.status === "live") {
    live.append(link("正在直播：进入直播互动", `/live.html?event=${event.id}`, "live-link"));
    live.hidden = false;
  } else if (event.status === "announced" || event.status === "rescheduled") {
    live.append(link("直播互动页（开播后可提问）", `/live.html?event=${event.id}`));
    live.hidden = false;
  }

  const list = $("deadlines");
  list.replaceChildren(...event.deadlines.filter((d) => d.state !== "not_applicable").map((d) => deadlineItem(d)));
  $("deadlines-box").hidden = list.childElementCount === 0;

  if (event.status === "materials_published") {
    const p = $("record-link");
    p.replaceChildren(link("查看活动实录（材料包）", `/events/${event.id}/record`));
    p.hidden = false;
  }
}

function counts(list, items) {
  list.replaceChildren();
  for (const item of items) {
    const li = el("li");
    li.append(el("span", null, item.label), el("strong", null, String(item.count)));
    list.append(li);
  }
}

function ratingControl(reply) {
  const box = el("fieldset", "rating");
  box.append(el("legend", null, "您是提问者吗？请评价这条答复"));
  const msg = messageSlot();
  const buttons = Object.entries(RATING).map(([value, text]) =>
    button(text, () => rate(reply, value, buttons, msg), "secondary"),
  );
  box.append(...buttons, msg);
  return box;
}

async function rate(reply, rating, buttons, msg) {
  const token = stored(VIEWER_TOKEN_KEY);
  if (!token) {
    say(msg, "只有提问者本人可以评价：请使用提问时的手机或浏览器打开本页。");
    return;
  }
  buttons.forEach((b) => (b.disabled = true));
  try {
    await api("POST", `/api/opinions/${reply.id}/rating`, { viewer_token: token, rating });
    say(msg, `感谢您的评价：${RATING[rating]}`, true);
    load();
    return;
  } catch (err) {
    if (err.status === 403) {
      say(msg, `抱歉，只有提问者本人可以评价这条答复。${err.message ? `（${err.message}）` : ""}`);
    } else if (err.code === "conflict") {
      say(msg, "这条答复已经评价过了，感谢参与。");
    } else {
      say(msg, errorText(err));
      buttons.forEach((b) => (b.disabled = false));
    }
  }
}

/** A paragraph of `text`, or of its marked form when a search found the query there. */
function found(className, text, segments) {
  const p = el("p", className);
  p.append(foundText(text, segments));
  return p;
}

function replyItem(r) {
  const li = el("li", r.mine ? "reply reply-mine" : "reply");
  li.dataset.id = r.id;
  li.id = `reply-${r.id}`;
  // The 我的提问 links move the focus here.
  li.tabIndex = -1;
  const head = el("p", "reply-head");
  const who = el("span", "who");
  who.append(foundText(r.nickname, r.highlight?.nickname));
  if (r.mine) head.append(el("span", "mine-tag", "我的提问"));
  head.append(tag(r.state_label, r.state), " ", who, el("span", "muted", ` · ${labelOf(SOURCE, r.source)}`));
  if (r.support > 1) head.append(el("span", "muted", ` · ${r.support} 人反映`));
  if (r.topic) head.append(el("span", "muted", ` · ${r.topic}`));
  li.append(head, found("reply-text", r.text, r.highlight?.text));
  if (r.reason) li.append(el("p", "reply-reason", `暂不采纳的原因：${r.reason}`));
  const answer = el("div", "reply-answer");
  answer.append(el("p", "reply-unit", `${r.unit_name} 答复：`), found("reply-body", r.reply, r.highlight?.reply));
  li.append(answer);
  const dates = el("p", "muted small", `受理日期 ${r.received_date} · 答复日期 ${r.reply_date} · 答复单位 ${r.unit_name}`);
  li.append(dates);
  if (r.rated) li.append(el("p", "muted small", "提问者已评价"));
  else if (r.mine) li.append(ratingControl(r));
  return li;
}

/** The viewer token this browser keeps, when it is one (a stale value would be refused). */
function viewerToken() {
  const token = stored(VIEWER_TOKEN_KEY);
  return token && /^[0-9a-f]{32}$/.test(token) ? token : null;
}

/** Move to reply `id`: clear a search that hides it first. */
async function showReply(id) {
  if (!document.getElementById(`reply-${id}`) && shown) {
    $("reply-q").value = "";
    await feedback(shown);
  }
  const item = document.getElementById(`reply-${id}`);
  if (!item) return;
  item.scrollIntoView({ block: "start" });
  item.focus({ preventScroll: true });
}

/**
 * 我的提问: how many of this browser's questions were answered, and a link
 * to each answer. Only a page read without a search lists them (a search
 * shows some replies, the counts are the viewer's all).
 */
function mineBox(fb, searched) {
  const box = $("mine-box");
  if (!fb.mine || fb.mine.asked === 0) {
    box.hidden = true;
    return;
  }
  const { asked, answered } = fb.mine;
  $("mine-summary").textContent =
    answered === 0
      ? `您在本场提出的 ${asked} 条意见建议正在办理，答复公开后会显示在这里。`
      : `您在本场提出 ${asked} 条意见建议，已答复 ${answered} 条：`;
  if (!searched) {
    $("mine-list").replaceChildren(
      ...fb.replies
        .filter((r) => r.mine)
        .map((r) => {
          const li = el("li");
          const a = link(`${r.state_label}：${r.text}`, `#reply-${r.id}`);
          a.addEventListener("click", (e) => {
            e.preventDefault();
            showReply(r.id);
          });
          li.append(a);
          return li;
        }),
    );
  }
  box.hidden = false;
}

/** The counts and the published replies; with a search, the replies that contain it, best first. */
async function feedback(event) {
  const q = $("reply-q").value.trim();
  const token = viewerToken();
  const fb = await api(
    "GET",
    `/api/events/${event.id}/feedback${q ? `?q=${encodeURIComponent(q)}` : ""}`,
    undefined,
    token ? { "x-viewer-token": token } : {},
  );
  $("collected").textContent = `收集意见建议 ${fb.collected} 条，已答复 ${fb.published} 条`;
  counts($("by-state"), fb.by_state);
  counts($("ratings"), fb.ratings);
  counts($("withheld"), fb.withheld);
  mineBox(fb, Boolean(q));
  const list = $("replies");
  list.replaceChildren(...fb.replies.map(replyItem));
  const none = q ? `没有找到包含“${q}”的答复。` : "答复将在各单位办理后公开。";
  if (fb.replies.length === 0) list.append(el("li", "muted", none));
  say($("reply-search-status"), q ? `找到 ${fb.replies.length} 条包含“${q}”的答复，按相关程度排序，匹配处已标出。` : "", true);
  $("feedback-box").hidden = false;
}

async function searchReplies(e) {
  e.preventDefault();
  if (!shown) return;
  try {
    await feedback(shown);
  } catch (err) {
    say($("reply-search-status"), errorText(err));
  }
}

/**
 * The way to the sign-up page when the event has a published selection
 * (公开遴选): 报名参加 while sign-ups are open, else the announcement and
 * then the result. No selection (404): nothing.
 */
async function signupLink(event) {
  const p = $("signup-link");
  p.hidden = true;
  if (event.public_selection === false) return;
  let selection;
  try {
    selection = await api("GET", `/api/events/${event.id}/selection`);
  } catch {
    return;
  }
  const text = selection.open
    ? "报名参加：现场名额公开遴选"
    : selection.result
      ? "查看遴选结果（公示）"
      : "查看遴选公告";
  p.replaceChildren(link(text, `/signup.html?event=${event.id}`, selection.open ? "live-link" : null));
  p.hidden = false;
}

/** A changed value as people read it. */
function shownValue(field, value) {
  if (value === null || value === undefined || value === "") return "（无）";
  if (field === "starts_at") return when(value);
  if (field === "form") return labelOf(FORM, value);
  if (field === "status") return labelOf(EVENT_STATUS, value);
  if (Array.isArray(value)) return value.join("、");
  return String(value);
}

/** 变更公告: every change since the announcement, with its reason. */
async function changes(event) {
  const list = await api("GET", `/api/events/${event.id}/changes`);
  $("changes-box").hidden = list.length === 0;
  $("changes").replaceChildren(
    ...list.map((c) => {
      const li = el("li", "change");
      li.append(el("p", "change-head", `${when(c.at)} · ${labelOf(CHANGE_KIND, c.kind)} · 原因：${c.reason}`));
      for (const field of Object.keys(c.after ?? {})) {
        if (field === "status" && c.kind !== "cancel") continue;
        const label = labelOf(CHANGED_FIELD, field);
        li.append(el("p", "change-item", `${label}：${shownValue(field, c.before?.[field])} → ${shownValue(field, c.after[field])}`));
      }
      return li;
    }),
  );
}

/** The share link and its QR code (for WeChat and posters). */
function share(event) {
  const url = `${location.origin}/event.html?id=${event.id}`;
  const qr = `/api/events/${event.id}/qr.svg`;
  $("share-url").value = url;
  $("share-qr").src = qr;
  $("share-qr-download").href = qr;
  $("share-qr-download").download = `event-${event.id}-qr.svg`;
  $("share-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(url);
      say($("share-msg"), "链接已复制", true);
    } catch {
      $("share-url").select();
      say($("share-msg"), "请长按或按 Ctrl+C 复制上面的链接");
    }
  });
  $("share-box").hidden = false;
}

async function load() {
  const status = $("load-status");
  const id = idFromUrl("id");
  if (id === null) {
    status.textContent = "这个链接不完整，找不到对应的活动。请从活动安排中选择活动。";
    return;
  }
  try {
    const event = await api("GET", `/api/events/${id}`);
    shown = event;
    announcement(event);
    if (event.status !== "draft") share(event);
    await Promise.all([changes(event), signupLink(event)]);
    if (AFTER.has(event.status)) await feedback(event);
    status.textContent = "";
    // A link to the viewer's own answers (#mine-box) lands there once it is drawn.
    if (location.hash === "#mine-box" && !$("mine-box").hidden) $("mine-box").scrollIntoView();
  } catch (err) {
    status.textContent = err.status === 404 ? "没有找到这场活动。" : `加载失败：${errorText(err)}`;
  }
}

$("reply-search").addEventListener("submit", searchReplies);
load();
