// The moderator console: the live queue, moderation by mouse and keyboard,
// room settings, polls, the text feed (图文直播, in moderate-feed.js), and
// starting and ending the live event. Staff are
// recognised by their HttpOnly session cookie, which the browser sends with
// the WebSocket handshake.

import { LiveClient, followRoom } from "./live-client.js";
import { $, api, clock, confirmBox, connectionStatus, el, idFromUrl, logout, notice, pollResults, roomErrorText, scheduler, signInUrl, whoAmI } from "./dom.js";
import { CONSOLE_STATUS, POLL_KIND, POLL_STATUS, SCREEN_CATEGORY, SOURCE, labelOf } from "./labels.js";
import { renderFeed, wireFeed } from "./moderate-feed.js";

const eventId = idFromUrl();
const render = scheduler(renderAll);

const room = {
  capability: null,
  status: null, // the event's: announced, live, ended, … (snapshot, event_status)
  liveAt: undefined, // when the event went live (null: not yet; undefined: not known yet)
  viewers: 0,
  pinned: null,
  records: new Map(), // id -> the moderators' record (queue, moderation frames, acks)
  questions: new Map(), // id -> public question
  comments: new Map(), // id -> public comment
  polls: new Map(), // id -> poll record
  authors: new Map(), // post id -> its author's viewer key (published posts, sent at join)
  tallies: new Map(), // poll id -> tally
  reports: new Map(), // post id -> its reports (reports, report frames)
  updates: new Map(), // id -> the text feed's update (snapshot, update frames, our own requests)
};
let selectedId = null;
const follow = followRoom(room, render);

// ---- the room ----

const client = new LiveClient(eventId, {
  handlers: {
    ...follow,
    status: connectionStatus({ 4403: "没有权限进入此活动的审核台（请确认账号是否服务于本场活动）。" }),
    welcome: (w) => {
      room.capability = w.capability;
      if (w.capability === "viewer") {
        // No (valid) session cookie: the server took us for a viewer.
        client.close();
        location.replace(signInUrl());
        return;
      }
      document.body.classList.toggle("host-only", w.capability === "host");
      // Permanent bans, across events, are the administrators'.
      const admin = w.staff?.role === "admin";
      $("term-permanent").hidden = !admin;
      $("term-permanent").disabled = !admin;
      $("who").textContent = `${w.staff.display_name}（${w.capability === "host" ? "主持人" : "审核员"}）`;
      showStatus();
    },
    snapshot: (s) => {
      follow.snapshot(s);
      room.status = s.status;
      showStatus();
      for (const p of s.polls ?? []) if (p.tally) room.tallies.set(p.id, p.tally);
      showSettings(s.moderation, s.slow_mode_secs);
      showPaused(Boolean(s.paused));
    },
    queue: ({ questions }) => {
      // Sent after every snapshot or replay, and again whenever live moderation
      // frames may have been lost between the server's nodes: the queue as it is now.
      for (const [id, r] of room.records) if (r.status === "pending") room.records.delete(id);
      for (const q of questions) room.records.set(q.id, q);
      render();
    },
    authors: ({ authors }) => {
      // The authors of posts published before this console connected (after
      // a reload the queue no longer has them): they can still be banned.
      room.authors = new Map(authors.map((a) => [a.id, a.viewer_key]));
      render();
    },
    moderation: ({ question }) => {
      room.records.set(question.id, question);
      render();
    },
    reports: ({ reports }) => {
      room.reports = new Map(reports.map((r) => [r.post_id, r]));
      render();
    },
    report: ({ report }) => {
      room.reports.set(report.post_id, report);
      render();
    },
    settings: (s) => showSettings(s.moderation, s.slow_mode_secs),
    interaction: ({ paused }) => showPaused(paused),
    event_status: ({ status }) => {
      room.status = status;
      // Gone live while this console watched: what came before was 会前征集.
      if (status === "live" && !room.liveAt) room.liveAt = new Date().toISOString();
      showStatus();
      render();
    },
    presence: ({ viewers }) => {
      room.viewers = viewers;
      $("count-viewers").textContent = viewers; // no need to rebuild the lists
    },
    polls: ({ polls }) => {
      room.polls = new Map(polls.map((p) => [p.id, p]));
      renderPolls();
    },
    poll_admin: ({ poll_id, poll, tally }) => {
      if (poll) room.polls.set(poll_id, poll);
      if (tally) room.tallies.set(poll_id, tally);
      renderPolls();
    },
    poll: ({ poll }) => {
      if (poll.tally) room.tallies.set(poll.id, poll.tally);
      const known = room.polls.get(poll.id);
      if (known) known.status = poll.status;
      renderPolls();
    },
    poll_results: ({ poll_id, tally }) => {
      room.tallies.set(poll_id, tally);
      renderPolls();
    },
    ack: (ack) => {
      if (ack.poll) {
        room.polls.set(ack.poll.id, ack.poll);
        renderPolls();
      }
    },
    error: (e) => notice(roomErrorText(e)),
  },
});

// ---- rendering ----

function renderAll() {
  const pending = [...room.records.values()].filter((r) => r.status === "pending").sort((a, b) => a.id - b.id);
  const recent = [...room.records.values()]
    .filter((r) => r.status === "rejected" || r.status === "hidden")
    .sort((a, b) => b.id - a.id)
    .slice(0, 100);
  const published = [...room.questions.values()].sort((a, b) => b.upvotes - a.upvotes || a.id - b.id);
  const comments = [...room.comments.values()].sort((a, b) => b.id - a.id).slice(0, 100);
  $("count-pending").textContent = pending.length;
  $("count-approved").textContent = published.length;
  $("count-comments").textContent = room.comments.size;
  $("count-viewers").textContent = room.viewers;
  const hadFocus = Boolean(document.activeElement?.closest?.(".mod-item"));
  // The oldest 200 are on screen (the counter has them all): a long queue stays quick to redraw.
  $("queue").replaceChildren(...pending.slice(0, 200).map((r) => item(r, "pending")));
  $("published").replaceChildren(...published.map((q) => item(merge(q, "question"), "published")));
  $("comments").replaceChildren(...comments.map((c) => item(merge(c, "comment"), "published")));
  $("recent").replaceChildren(...recent.map((r) => item(r, r.status)));
  $("queue-empty").hidden = pending.length > 0;
  $("published-empty").hidden = published.length > 0;
  $("comments-empty").hidden = room.comments.size > 0;
  renderReviews();
  renderFeed();
  const selected = selectedId !== null ? document.querySelector(`.mod-item[data-id="${selectedId}"]`) : null;
  for (const node of document.querySelectorAll(".mod-item")) node.tabIndex = node === selected ? 0 : -1;
  if (selected) {
    selected.classList.add("selected");
    if (hadFocus) selected.focus();
  } else {
    const first = document.querySelector(".mod-item");
    if (first) first.tabIndex = 0;
  }
}

// ---- reports and appeals (举报受理) ----

/** Open reports (held ones first, then the longest waiting) and open appeals, each with its due date. */
function renderReviews() {
  const open = [...room.reports.values()].filter((r) => r.open > 0).sort((a, b) => Number(b.held) - Number(a.held) || Date.parse(a.first_at) - Date.parse(b.first_at));
  $("reports").replaceChildren(...open.map(reportItem));
  $("reports-empty").hidden = open.length > 0;
  const appeals = [...room.records.values()].filter((r) => r.appeal?.status === "open").sort((a, b) => Date.parse(a.appeal.at) - Date.parse(b.appeal.at));
  $("appeals").replaceChildren(...appeals.map(appealItem));
  $("appeals-empty").hidden = appeals.length > 0;
}

/** Today in Beijing as YYYY-MM-DD, as due dates are written. */
function beijingToday() {
  return new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" });
}

function due(on, overdue) {
  const span = el("span", overdue ? "tag tag-rejected" : "tag", on ? `${overdue ? "已逾期，" : ""}应于 ${on} 前处理` : "处理期限：日历未覆盖");
  return span;
}

function reportItem(r) {
  const li = el("li", "review-item report-item");
  li.dataset.post = r.post_id;
  const meta = el("p", "post-meta");
  meta.append(el("span", "tag", labelOf(SOURCE, r.kind)), " ", el("span", "nick", r.nickname), ` · 举报 ${r.open} 人 `, due(r.due_on, r.overdue));
  if (r.held) meta.append(" ", el("span", "tag tag-hidden", "已自动隐藏，待复核"));
  li.append(meta, el("p", "post-text", r.text));
  li.append(el("p", "reason", `理由：${r.reasons.map((c) => `${c.label} ${c.count}`).join("、")}`));
  const row = el("div", "actions");
  for (const [outcome, label] of [["kept", r.held ? "恢复显示" : "保留"], ["hidden", "隐藏"]]) {
    const b = el("button", outcome === "hidden" ? "danger" : "secondary", label);
    b.type = "button";
    b.dataset.resolve = outcome;
    b.addEventListener("click", () => send({ type: "resolve_reports", post_id: r.post_id, outcome }, outcome === "kept" ? "已保留，举报已处理" : "已隐藏，举报已处理"));
    row.append(b);
  }
  li.append(row);
  return li;
}

function appealItem(r) {
  const li = el("li", "review-item appeal-item");
  li.dataset.id = r.id;
  const meta = el("p", "post-meta");
  meta.append(el("span", "tag", labelOf(SOURCE, r.kind)), " ", el("span", "nick", r.nickname), ` · ${clock(r.appeal.at)} 申诉 `, due(r.appeal.due_on, Boolean(r.appeal.due_on) && beijingToday() > r.appeal.due_on));
  li.append(meta, el("p", "post-text", r.original_text ?? r.text));
  if (r.reject_reason) li.append(el("p", "reason", `拒绝理由：${r.reject_reason}`));
  li.append(el("p", "appeal-text", `申诉：${r.appeal.text}`));
  const row = el("div", "actions");
  for (const [upheld, label] of [[true, "申诉成立并公开"], [false, "维持原决定"]]) {
    const b = el("button", upheld ? "secondary" : "danger", label);
    b.type = "button";
    b.dataset.decide = String(upheld);
    b.addEventListener("click", async () => {
      const reply = await ask(label, r.original_text ?? r.text, "给提问人的答复（必填，最多 200 字）", upheld ? "经复核，您的问题已公开。" : "");
      if (reply) send({ type: "decide_appeal", question_id: r.id, upheld, reply }, "申诉已处理，提问人会收到结果");
    });
    row.append(b);
  }
  li.append(row);
  return li;
}

/** Whether a post came in before the event went live: 会前征集, collected from the announcement on. */
function askedBeforeLive(r) {
  if (room.liveAt === undefined || !r.created_at) return false;
  return room.liveAt === null || Date.parse(r.created_at) < Date.parse(room.liveAt);
}

/**
 * A published post with what the moderators know of it (viewer key, original
 * text). The public frame has personal data masked; the record, when this
 * console has it, has the text as written, which the moderators see.
 */
function merge(pub, kind) {
  const record = room.records.get(pub.id);
  const written = record ? { nickname: record.nickname, text: record.text, answer: record.answer ?? pub.answer } : {};
  return { ...record, ...pub, ...written, kind, status: "approved", viewer_key: record?.viewer_key ?? room.authors.get(pub.id) ?? null };
}

function item(r, where) {
  const node = el("li", "mod-item");
  node.dataset.id = r.id;
  node.dataset.where = where;
  const screenHits = Array.isArray(r.screen_hits) ? r.screen_hits : [];
  const personal = Array.isArray(r.personal_data) ? r.personal_data : [];
  const hits = [...screenHits, ...personal.map((p) => ({ ...p, personal: true }))];
  if (screenHits.length) node.classList.add("flagged");
  if (room.pinned === r.id) node.classList.add("is-pinned");
  const meta = el("p", "post-meta");
  meta.append(el("span", "tag", labelOf(SOURCE, r.kind)), " ", el("span", "nick", r.nickname), ` · ${clock(r.created_at)}`);
  if (r.viewer_key) meta.append(` · ${r.viewer_key}`);
  if (where === "published") meta.append(` · 赞 ${r.upvotes ?? 0}`);
  if (room.pinned === r.id) meta.append(" ", el("span", "tag tag-open", "置顶中"));
  if (r.answered) meta.append(" ", el("span", "tag tag-answered", "已回答"));
  if (askedBeforeLive(r)) meta.append(" ", el("span", "tag", "会前征集"));
  if (r.status === "rejected" || r.status === "hidden") {
    meta.append(" ", el("span", `tag tag-${r.status}`, r.status === "rejected" ? "已拒绝" : "已隐藏"));
  }
  node.append(meta);
  // Hits are offsets into what the viewer wrote: the original when a moderator edited it.
  const original = r.original_text ?? null;
  if (original) {
    node.append(el("p", "post-text", r.text));
    const orig = el("p", "original", "原文：");
    orig.append(...highlighted(original, hits));
    node.append(orig);
  } else {
    const text = el("p", "post-text");
    text.append(...highlighted(r.text, hits));
    node.append(text);
  }
  if (screenHits.length) {
    const hit = (h) => (SCREEN_CATEGORY[h.category] ? `${h.word}（${SCREEN_CATEGORY[h.category]}）` : h.word);
    node.append(el("p", "hits", `命中敏感词：${screenHits.map(hit).join("、")}`));
  }
  if (personal.length) node.append(el("p", "hits personal", "含个人信息（已标出）：公开显示时自动打码"));
  if (r.reject_reason) node.append(el("p", "reason", `拒绝理由：${r.reject_reason}`));
  if (r.answer) {
    const answer = el("p", "answer");
    answer.append(el("strong", null, "回答："), document.createTextNode(r.answer));
    node.append(answer);
  }
  node.append(actions(r, where));
  return node;
}

/**
 * The text as text nodes with each sensitive-word hit and each run of
 * personal data (class "personal") in a <mark>. Offsets
 * count characters (code points), so split with Array.from, not by UTF-16.
 */
function highlighted(text, hits) {
  const chars = Array.from(text);
  const spans = hits
    .map((h) => [Math.max(0, h.start), Math.min(chars.length, h.end), h.personal ? "personal" : null])
    .filter(([s, e]) => e > s)
    .sort((a, b) => a[0] - b[0]);
  const nodes = [];
  let at = 0;
  for (const [start, end, kind] of spans) {
    if (end <= at) continue;
    const from = Math.max(start, at);
    if (from > at) nodes.push(document.createTextNode(chars.slice(at, from).join("")));
    nodes.push(el("mark", kind, chars.slice(from, end).join("")));
    at = end;
  }
  if (at < chars.length) nodes.push(document.createTextNode(chars.slice(at).join("")));
  return nodes;
}

const ACTIONS = {
  a: { label: "通过", title: "通过 (a)", when: (r) => r.status === "pending", mod: true },
  restore: { key: "a", label: "恢复", title: "恢复公开 (a)", when: (r) => r.status === "hidden", mod: true },
  r: { label: "拒绝", title: "拒绝 (r)", when: (r) => r.status === "pending", mod: true },
  e: { label: "编辑", title: "编辑 (e)", when: (r) => r.status === "pending" || r.status === "approved", mod: true },
  p: { label: "置顶", title: "置顶 / 取消置顶 (p)", when: (r) => r.status === "approved" && r.kind === "question" },
  d: { label: "回答", title: "回答 (d)", when: (r) => r.status === "approved" && r.kind === "question" },
  h: { label: "隐藏", title: "隐藏 (h)", when: (r) => r.status === "approved", mod: true },
  c: { label: "转为提问", title: "评论转为提问 (c)", when: (r) => r.kind === "comment" && (r.status === "pending" || r.status === "approved"), mod: true },
  b: { label: "封禁", title: "封禁发布者 (b)", when: (r) => Boolean(r.viewer_key), mod: true },
};

function actions(r, where) {
  const row = el("div", "actions");
  for (const [name, action] of Object.entries(ACTIONS)) {
    if (!action.when(r)) continue;
    if (action.mod && room.capability !== "moderator") continue;
    const label = name === "p" && room.pinned === r.id ? "取消置顶" : action.label;
    const button = el("button", name === "a" ? null : "secondary", label);
    button.type = "button";
    button.title = action.title;
    button.dataset.action = action.key ?? name;
    row.append(button);
  }
  if (where === "published" && r.status === "approved" && !r.viewer_key && room.capability === "moderator") {
    row.append(el("span", "muted", "（发布者未知，不能封禁）"));
  }
  return row;
}

function recordOf(id) {
  const pub = room.questions.get(id);
  if (pub) return merge(pub, "question");
  const comment = room.comments.get(id);
  if (comment) return merge(comment, "comment");
  return room.records.get(id);
}

// ---- moderation steps ----

async function act(key, id) {
  const r = recordOf(id);
  if (!r) return;
  const action = Object.entries(ACTIONS).find(([name, a]) => (a.key ?? name) === key && a.when(r));
  if (!action) return;
  if (action[1].mod && room.capability !== "moderator") return;
  const q = { question_id: id };
  let message;
  switch (key) {
    case "a":
      message = { type: "approve", ...q };
      break;
    case "r": {
      const reason = await ask("拒绝", r.text, "拒绝理由（将告知提问者）", "与本次活动主题无关");
      if (reason === null) return;
      message = { type: "reject", ...q, reason };
      break;
    }
    case "e": {
      const text = await ask("编辑", r.original_text ?? r.text, "修改后的文字（原文会保留）", r.text);
      if (text === null) return;
      message = { type: "edit", ...q, text };
      break;
    }
    case "p":
      message = { type: room.pinned === id ? "unpin" : "pin", ...q };
      break;
    case "d": {
      const text = await ask("回答", r.text, "嘉宾的回答（可留空，仅标记为已回答）", r.answer ?? "", true);
      if (text === null) return;
      message = { type: "answer", ...q };
      if (text) message.text = text;
      break;
    }
    case "h":
      message = { type: "hide", ...q };
      break;
    case "c":
      message = { type: "promote", ...q };
      break;
    case "b": {
      const reason = await ask("封禁", `${r.nickname}：${r.text}`, "封禁理由", "反复发布不当内容", false, true);
      if (reason === null) return;
      message = { type: "ban", viewer: r.viewer_key, reason, include_address: $("prompt-check").checked };
      const term = $("prompt-term").value;
      if (term === "permanent") message.permanent = true;
      else if (term) message.minutes = Number(term);
      break;
    }
    default:
      return;
  }
  if (key === "a" || key === "r") moveSelectionPast(id);
  try {
    const ack = await client.request(message);
    if (ack.question) {
      const known = room.records.get(id);
      room.records.set(id, { ...known, ...ack.question, kind: ack.question.kind ?? known?.kind });
    }
    if (key === "b") {
      // The ack says what was banned: the viewer, and whether their address too.
      const address = ack.banned?.address ? "（连同其网络地址）" : "（未找到其网络地址，仅封禁此观众）";
      notice(`已封禁 ${r.nickname}${message.include_address ? address : ""}`, "info");
      loadBans();
    }
    render();
  } catch (err) {
    notice(roomErrorText(err));
  }
}

// ---- bans ----

/** The bans in force (GET /api/events/{id}/bans), each with its lift button. */
async function loadBans() {
  let bans;
  try {
    bans = await api("GET", `/api/events/${eventId}/bans`);
  } catch {
    return; // not this role's to see, or offline: the list stays as it was
  }
  $("bans").replaceChildren(
    ...bans.map((b) => {
      const li = el("li", "ban");
      const who = [b.viewer_key ? `观众 ${b.viewer_key}` : null, b.ip ? `地址 ${b.ip}` : null].filter(Boolean).join("，");
      const end = b.expires_at ? `至 ${new Date(b.expires_at).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai" })}` : "至本场活动结束";
      const until = b.permanent ? "永久（所有活动）" : end;
      li.append(el("span", null, `${who} · ${until} · 理由：${b.reason}`), " ");
      const lift = el("button", "secondary", "解除");
      lift.type = "button";
      lift.dataset.ban = b.id;
      lift.addEventListener("click", () => unban(b.id));
      li.append(lift);
      return li;
    }),
  );
  $("bans-empty").hidden = bans.length > 0;
}

async function unban(id) {
  try {
    await client.request({ type: "unban", ban_id: id });
    notice("已解除封禁", "info");
  } catch (err) {
    notice(roomErrorText(err));
  }
  loadBans();
}

/** After approving or rejecting, the next pending post is the one to look at. */
function moveSelectionPast(id) {
  const node = document.querySelector(`.mod-item[data-id="${id}"]`);
  const next = node?.nextElementSibling ?? node?.previousElementSibling;
  selectedId = next ? Number(next.dataset.id) : null;
}

/** A small modal for a reason or a text; resolves null when cancelled. */
function ask(title, subject, label, value, optional = false, withAddress = false) {
  const dialog = $("prompt");
  $("prompt-title").textContent = title;
  $("prompt-subject").textContent = subject;
  $("prompt-label").textContent = label;
  const input = $("prompt-text");
  input.value = value;
  input.required = !optional;
  $("prompt-check-row").hidden = !withAddress;
  $("prompt-term-row").hidden = !withAddress;
  const restore = document.activeElement;
  dialog.showModal();
  input.focus();
  input.select();
  return new Promise((resolve) => {
    const done = (result) => {
      dialog.removeEventListener("close", onClose);
      $("prompt-form").removeEventListener("submit", onSubmit);
      $("prompt-cancel").removeEventListener("click", onCancel);
      if (dialog.open) dialog.close();
      restore?.focus?.();
      resolve(result);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text && !optional) return;
      done(text);
    };
    const onCancel = () => done(null);
    const onClose = () => done(null);
    // Enter confirms, Shift+Enter starts a new line; never while an IME is composing.
    input.onkeydown = (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $("prompt-form").requestSubmit();
      }
    };
    dialog.addEventListener("close", onClose);
    $("prompt-form").addEventListener("submit", onSubmit);
    $("prompt-cancel").addEventListener("click", onCancel);
  });
}

// ---- keyboard and mouse ----

const KEYS = new Set(["a", "r", "e", "p", "d", "h", "c", "b"]);

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || $("prompt").open) return;
  if (e.target.closest("input, textarea, select, [contenteditable]")) return;
  const items = [...document.querySelectorAll(".mod-item")].filter((n) => n.offsetParent !== null);
  if (items.length === 0) return;
  const current = items.findIndex((n) => Number(n.dataset.id) === selectedId);
  if (e.key === "j" || e.key === "ArrowDown" || e.key === "k" || e.key === "ArrowUp") {
    const step = e.key === "j" || e.key === "ArrowDown" ? 1 : -1;
    const next = items[Math.max(0, Math.min(items.length - 1, current + step))] ?? items[0];
    select(next);
    e.preventDefault();
  } else if (KEYS.has(e.key) && current >= 0) {
    e.preventDefault();
    act(e.key, selectedId);
  }
}

function select(node) {
  for (const n of document.querySelectorAll(".mod-item.selected")) n.classList.remove("selected");
  for (const n of document.querySelectorAll(".mod-item")) n.tabIndex = -1;
  selectedId = Number(node.dataset.id);
  node.classList.add("selected");
  node.tabIndex = 0;
  node.focus();
}

function onClick(e) {
  const node = e.target.closest(".mod-item");
  if (!node) return;
  select(node);
  const button = e.target.closest("button[data-action]");
  if (button) act(button.dataset.action, Number(node.dataset.id));
}

// ---- settings ----

/** The kill switch's state: paused, every viewer's interaction waits. */
function showPaused(paused) {
  $("interaction-state").textContent = paused ? "互动已暂停：观众不能提问、评论、点赞和投票" : "互动进行中";
  $("interaction-state").classList.toggle("bad", paused);
  $("pause").hidden = paused;
  $("resume").hidden = !paused;
}

function showSettings(mode, slow) {
  $("mode").value = mode;
  if (document.activeElement !== $("slow")) $("slow").value = slow;
}

async function send(message, done) {
  try {
    await client.request(message);
    if (done) notice(done, "info");
  } catch (err) {
    notice(roomErrorText(err));
  }
}

// ---- going live and ending ----

/**
 * The event's status, and the step it allows. Every staff connection the
 * room admits serves this event (moderators, hosts, the host units' staff,
 * administrators), and whoever serves it may start and end it.
 */
function showStatus() {
  $("event-status").textContent = CONSOLE_STATUS[room.status] ?? "—";
  const staff = room.capability === "moderator" || room.capability === "host";
  $("live-start").hidden = !(staff && (room.status === "announced" || room.status === "rescheduled"));
  $("live-end").hidden = !(staff && room.status === "live");
  if (room.status !== "live") $("live-end-confirm").hidden = true;
}

function liveMessage(text, ok) {
  const box = $("live-msg");
  box.textContent = text;
  box.className = `live-msg ${ok ? "ok" : "bad"}`;
}

/** POST /api/events/{id}/start or /end with the session cookie. */
async function lifecycle(step, buttons, done) {
  buttons.forEach((b) => (b.disabled = true));
  try {
    const event = await api("POST", `/api/events/${eventId}/${step}`);
    room.status = event.status;
    room.liveAt = event.live_at ?? room.liveAt;
    showStatus();
    render();
    liveMessage(done, true);
  } catch (err) {
    // The room's words for the codes both speak (a lost connection included), and the server's own after them.
    const base = roomErrorText({ code: err.code === "network" ? "disconnected" : err.code });
    liveMessage(err.message ? `${base}（${err.message}）` : base, false);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

function wireLifecycle() {
  $("live-start").addEventListener("click", () =>
    lifecycle("start", [$("live-start")], "直播已开始，观众现在可以提问。"),
  );
  confirmBox($("live-end"), $("live-end-confirm"), $("live-end-ok"), $("live-end-cancel"));
  $("live-end-ok").addEventListener("click", async () => {
    await lifecycle("end", [$("live-end-ok"), $("live-end")], "直播已结束，互动内容已转为意见建议。");
    if (room.status !== "live") $("live-end-confirm").hidden = true;
  });
}

// ---- polls ----

function renderPolls() {
  const list = [...room.polls.values()].sort((a, b) => b.id - a.id);
  $("polls").replaceChildren(
    ...list.map((poll) => {
      const box = el("article", "poll-admin");
      box.dataset.poll = poll.id;
      const meta = el("p", "post-meta");
      meta.append(
        el("span", "tag", labelOf(POLL_KIND, poll.kind)),
        " ",
        el("span", `tag tag-${poll.status}`, labelOf(POLL_STATUS, poll.status)),
        ` · ${poll.results === "live" ? "实时公开结果" : "结束后公开结果"}${poll.allow_change ? " · 可改票" : ""}`,
      );
      box.append(meta, el("h3", "poll-title", poll.title));
      const row = el("div", "actions");
      const button = (label, type) => {
        const b = el("button", "secondary", label);
        b.type = "button";
        b.dataset.pollAction = type;
        row.append(b);
      };
      if (poll.status === "draft") button("开启投票", "open_poll");
      if (poll.status === "open") button("结束投票", "close_poll");
      if (poll.status === "closed") button("重新开启", "open_poll");
      box.append(row);
      if (poll.status !== "draft") box.append(pollResults({ ...poll, status: "closed" }, room.tallies.get(poll.id) ?? null));
      return box;
    }),
  );
}

function wirePolls() {
  const kind = $("poll-kind");
  const sync = () => {
    const choice = kind.value === "single_choice" || kind.value === "multiple_choice";
    $("poll-options-row").hidden = !choice;
    $("poll-max-row").hidden = kind.value !== "multiple_choice";
  };
  kind.addEventListener("change", sync);
  sync();
  $("poll-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const message = {
      type: "create_poll",
      kind: kind.value,
      title: $("poll-title").value.trim(),
      allow_change: $("poll-change").checked,
      results: $("poll-results").value,
    };
    if (kind.value === "single_choice" || kind.value === "multiple_choice") {
      message.options = $("poll-options").value.split("\n").map((s) => s.trim()).filter(Boolean);
    }
    if (kind.value === "multiple_choice") message.max_choices = Number($("poll-max").value);
    try {
      const ack = await client.request(message);
      room.polls.set(ack.poll.id, ack.poll);
      renderPolls();
      $("poll-title").value = "";
      $("poll-options").value = "";
      notice("投票草稿已创建", "info");
    } catch (err) {
      notice(err.code === "invalid" ? "投票内容不符合要求：题目 1–200 字，选项 2–20 个且不重复" : roomErrorText(err));
    }
  });
  $("polls").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-poll-action]");
    if (!b) return;
    const pollId = Number(b.closest("[data-poll]").dataset.poll);
    send({ type: b.dataset.pollAction, poll_id: pollId });
  });
}

async function start() {
  // Signed in (else off to the sign-in page); who, and in which role, the room's welcome says.
  await whoAmI();
  $("logout").addEventListener("click", logout);
  $("viewer-link").href = `/live.html?event=${eventId}`;
  $("present-link").href = `/present.html?event=${eventId}`;
  api("GET", `/api/events/${eventId}`)
    .then((event) => {
      // Until the room's snapshot says otherwise.
      room.status ??= event.status;
      room.liveAt ??= event.live_at ?? null;
      render();
      showStatus();
      $("title").textContent = event.title;
      document.title = `${event.title} · 审核台`;
    })
    .catch(() => {});
  document.addEventListener("keydown", onKey);
  document.querySelector("main").addEventListener("click", onClick);
  $("mode").addEventListener("change", () => send({ type: "set_moderation", mode: $("mode").value }, "审核模式已更新"));
  $("pause").addEventListener("click", () => send({ type: "set_interaction", paused: true }, "已暂停全部互动"));
  $("resume").addEventListener("click", () => send({ type: "set_interaction", paused: false }, "已恢复互动"));
  $("withdraw-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const minutes = Number($("withdraw-minutes").value) || 0;
    if (!window.confirm(`撤下最近 ${minutes} 分钟内公开的全部提问和评论？`)) return;
    try {
      const ack = await client.request({ type: "withdraw_recent", minutes });
      notice(`已撤下 ${ack.withdrawn ?? 0} 条内容`, "info");
    } catch (err) {
      notice(roomErrorText(err));
    }
  });
  $("slow-form").addEventListener("submit", (e) => {
    e.preventDefault();
    send({ type: "set_slow_mode", seconds: Number($("slow").value) || 0 }, "慢速模式已更新");
  });
  wirePolls();
  wireFeed(eventId, room);
  wireLifecycle();
  loadBans();
  setInterval(loadBans, 60_000); // bans that ran out leave the list
  client.connect();
  window.minshengLive = client;
}

if (eventId === null) {
  notice("这个链接不完整，没有指明是哪场活动。请从单位工作台或活动安排进入审核台。");
} else {
  start().catch(() => notice("无法连接服务器，请刷新重试。"));
}
