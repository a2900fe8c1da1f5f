// The viewer page: watch, ask, upvote, vote and comment (docs/protocol.md).
// Every text a user wrote is set with textContent, never parsed as HTML.

import { LiveClient, followRoom } from "./live-client.js";
import { $, api, button as actionButton, clock, connectionStatus, countdown, el, errorText, fact, idFromUrl, notice, pollResults, redraw, roomErrorText, say, scheduler, showBadge, showConnection, when } from "./dom.js";
import { EVENT_STATUS, FORM, OWN_STATUS, POLL_KIND, POLL_STATUS, ROOM_ERROR, labelOf } from "./labels.js";
import { showFeed, updateContent } from "./feed.js";

/** The countdown of a rate limit or slow mode, per form: its interval while one runs. */
const postWait = { ask: null, comment: null };

const room = {
  status: null,
  moderation: "pre",
  slowMode: 0,
  pinned: null,
  viewers: null,
  questions: new Map(),
  comments: new Map(),
  mine: new Map(),
  upvoted: new Set(),
  polls: new Map(),
  myVotes: new Map(),
  updates: new Map(), // the text feed (图文直播), by id
  feedUnseen: new Set(), // updates posted since the viewer last looked at the feed tab
  feedLoaded: false, // a snapshot has filled `updates` once
};

const eventId = idFromUrl();
const render = scheduler(renderAll);
const follow = followRoom(room, render);

// ---- the event's announcement and the stream ----

async function loadEvent() {
  const event = await api("GET", `/api/events/${eventId}`);
  $("title").textContent = event.title;
  document.title = `${event.title} · 直播互动`;
  if (!room.status) showStatus(event.status);
  const facts = $("facts");
  fact(facts, "时间", when(event.starts_at, { year: false }));
  fact(facts, "时长", event.duration_minutes ? `${event.duration_minutes} 分钟` : null);
  fact(facts, "形式", labelOf(FORM, event.form));
  fact(facts, "地点", event.venue);
  fact(facts, "主责单位", event.hosts.map((h) => h.short_name).join("、"));
  fact(facts, "活动流程", event.agenda);
  fact(facts, "参与方式", event.participation);
  fact(facts, "简介", event.summary);
  stream.event = event;
  withPlayer((player) => player.setEvent(event));
}

// ---- the player (player.js): loaded once the room has connected, so the Q&A comes first ----

const stream = { player: null, loading: false, event: null };

function startPlayer() {
  if (stream.loading) return;
  stream.loading = true;
  import("./player.js")
    .then(({ Player }) => {
      stream.player = new Player($("stream"), eventId);
      window.minshengPlayer = stream.player; // for debugging and the browser tests
      if (stream.event) withPlayer((player) => player.setEvent(stream.event));
      if (room.status) withPlayer((player) => player.setStatus(room.status));
    })
    .catch((err) => {
      console.warn("player", err);
      $("stream").replaceChildren(el("p", "stream-none", "直播画面加载失败，请刷新页面重试；互动不受影响。"));
    });
}

/** Tell the player something; whatever goes wrong in it stays in its box. */
function withPlayer(action) {
  const player = stream.player;
  if (!player) return;
  Promise.resolve()
    .then(() => action(player))
    .catch((err) => console.warn("player", err));
}

function showStatus(status) {
  room.status = status;
  withPlayer((player) => player.setStatus(status));
  showBadge($("event-status"), status, labelOf(EVENT_STATUS, status));
  for (const form of [$("ask-form"), $("comment-form")]) {
    const waiting = Boolean(postWait[form.id.replace("-form", "")]);
    form.querySelector("button").disabled = !takesPosts(status) || room.paused || waiting;
  }
  // The kill switch: a banner while a moderator has paused the room's interaction.
  $("paused-banner").hidden = !(room.paused && takesPosts(status));
  for (const box of [$("ask-text"), $("comment-text")]) box.disabled = !takesPosts(status);
  if (status === "announced" || status === "rescheduled") {
    notice("直播尚未开始：现在可以提前提问和评论（会前征集），审核通过后公开。", "info");
  } else if (isOver(status)) {
    showEnded(status);
  } else if (!takesPosts(status)) {
    notice("本场活动目前不接收提问和评论。", "info");
  }
}

function isOver(status) {
  return status === "ended" || status === "materials_published";
}

/**
 * The ended room, kept on screen: the way on to the public answers, the
 * 访谈实录 once published (its HTML answers 200 only then) and the record
 * once the materials are.
 */
async function showEnded(status) {
  const list = $("ended-links");
  const item = (text, href, id) => {
    const li = el("li");
    const a = el("a", null, text);
    a.href = href;
    a.id = id;
    li.append(a);
    return li;
  };
  const items = [item("查看问题答复和采纳情况", `/event.html?id=${eventId}#feedback-title`, "ended-answers")];
  // A viewer who asked goes straight to their own answers (我的提问, marked by the token this browser keeps).
  if (room.mine.size > 0) items.unshift(item("我的提问的答复", `/event.html?id=${eventId}#mine-box`, "ended-mine"));
  if (status === "materials_published") items.push(item("活动实录（材料公开）", `/events/${eventId}/record`, "ended-record"));
  list.replaceChildren(...items);
  $("ended-box").hidden = false;
  const transcript = `/api/events/${eventId}/transcript?format=html`;
  const published = await fetch(transcript)
    .then((res) => res.ok)
    .catch(() => false);
  if (published && !$("ended-transcript") && isOver(room.status)) {
    list.insertBefore(item("访谈实录", transcript, "ended-transcript"), list.children[1] ?? null);
  }
}

/** Whether the room takes questions and comments: from the announcement (会前征集) until the end, as the server does. */
function takesPosts(status) {
  return status === "announced" || status === "rescheduled" || status === "live";
}

// ---- the room ----

const client = new LiveClient(eventId, {
  viewer: true,
  handlers: {
    ...follow,
    status: connectionStatus({ 4404: "没有这场活动。" }),
    welcome: (w) => {
      showIdentity(w);
      // Verified just now: what the viewer tried before goes out (the typed text was kept).
      if (w.viewer?.verified && verifying.pending) {
        const retry = verifying.pending;
        verifying.pending = null;
        retry();
      }
    },
    snapshot: (s) => {
      // A snapshot after a long drop (too far behind to resume) may bring updates never seen.
      const known = room.feedLoaded ? new Set(room.updates.keys()) : null;
      follow.snapshot(s);
      room.feedLoaded = true;
      for (const id of room.updates.keys()) if (known && !known.has(id)) feedPosted(id);
      for (const id of room.feedUnseen) if (!room.updates.has(id)) room.feedUnseen.delete(id);
      showFeedBadge();
      room.moderation = s.moderation;
      room.slowMode = s.slow_mode_secs;
      room.paused = Boolean(s.paused);
      room.mine = new Map(s.mine.map((q) => [q.id, q]));
      room.upvoted = new Set(s.upvoted);
      room.myVotes = new Map((s.my_votes ?? []).map((v) => [v.poll_id, v]));
      room.polls = new Map();
      pollCards.forEach((card) => card.root.remove());
      pollCards.clear();
      for (const p of s.polls ?? []) room.polls.set(p.id, p);
      showStatus(s.status);
      renderPolls();
      startPlayer();
    },
    // The viewer's own posts follow what the room does with them.
    question: (frame) => {
      follow.question(frame);
      const { question } = frame;
      const own = room.mine.get(question.id);
      if (own) Object.assign(own, { status: "approved", text: question.text, answered: question.answered });
    },
    question_removed: (frame) => {
      follow.question_removed(frame);
      const own = room.mine.get(frame.question_id);
      if (own) own.status = "hidden";
    },
    comment: (frame) => {
      follow.comment(frame);
      const own = room.mine.get(frame.comment.id);
      if (own) own.status = "approved";
    },
    // The text feed: a new update counts on the tab's badge until the viewer looks; an edit does not.
    update: (frame) => {
      const fresh = !room.updates.has(frame.update.id);
      follow.update(frame);
      if (fresh) feedPosted(frame.update.id);
    },
    update_removed: (frame) => {
      follow.update_removed(frame);
      room.feedUnseen.delete(frame.update_id);
      showFeedBadge();
    },
    settings: (s) => {
      room.moderation = s.moderation;
      room.slowMode = s.slow_mode_secs;
      render();
    },
    event_status: ({ status }) => showStatus(status),
    interaction: ({ paused }) => {
      room.paused = paused;
      showStatus(room.status);
    },
    presence: ({ viewers }) => {
      room.viewers = viewers;
      $("viewers").textContent = `${viewers} 人在看`; // no need to rebuild the lists
    },
    mine: ({ question }) => {
      const before = room.mine.get(question.id);
      room.mine.set(question.id, question);
      // An appeal decided: say so, also when the post now shows among the published ones.
      if (question.appeal && question.appeal.status !== "open" && before?.appeal?.status === "open") {
        notice(appealText(question.appeal), question.appeal.status === "upheld" ? "info" : "error");
      }
      render();
    },
    ack: (ack) => {
      if (ack.question) room.mine.set(ack.question.id, ack.question);
      render();
    },
    poll: ({ poll }) => {
      const before = room.polls.get(poll.id);
      room.polls.set(poll.id, poll);
      if (poll.status === "open" && before?.status !== "open" && !isSelected("poll")) $("poll-badge").hidden = false;
      renderPolls();
    },
    poll_results: ({ poll_id, tally }) => {
      const poll = room.polls.get(poll_id);
      if (!poll) return;
      poll.tally = tally;
      renderPolls();
    },
    error: (e) => {
      if (e.code === "lagged") return; // the client resumes by itself
      const ban = e.ban ?? e.frame?.ban;
      if (e.code === "banned" && ban) return notice(banText(ban));
      notice(roomErrorText(e));
    },
  },
});

/** Why and until when this viewer is banned, as the moderator set it. */
function banText({ reason, until }) {
  const end = until ? `至 ${new Date(until).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai" })}` : "至本场活动结束";
  return `您已被禁止参与本场互动（${end}）。理由：${reason}`;
}

// ---- verified posting (后台实名、前台自愿) ----

const verifying = { pending: null }; // what to do again once verified

/** The line over the forms: verified as whom, or that this room needs it. */
function showIdentity(welcome) {
  const line = $("identity-line");
  line.replaceChildren();
  line.hidden = welcome?.identity !== "verified" || !welcome.viewer;
  $("notify-row").hidden = true;
  if (line.hidden) return;
  $("notify-row").hidden = !welcome.viewer.verified;
  if (welcome.viewer.verified) {
    line.append(`已验证手机号 ${welcome.viewer.phone ?? ""}，公众只看到您的昵称。`, actionButton("退出验证", forgetVerification, "link-button"));
    $("verify").hidden = true;
  } else {
    line.append("本场提问、评论、点赞和投票需先验证手机号（公众只看到昵称）。", actionButton("验证手机号", () => openVerify(null), "link-button"));
  }
}

/** Show the form in place; `retry` runs once the viewer is verified. */
function openVerify(retry) {
  verifying.pending = retry;
  const box = $("verify");
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
  $("verify-phone").focus();
}

async function sendCode() {
  const phone = $("verify-phone").value.trim();
  const status = $("verify-status");
  if (!phone) return say(status, "请输入手机号");
  const send = $("verify-send");
  send.disabled = true;
  try {
    const sent = await api("POST", "/api/verification/code", { phone });
    say(status, `验证码已发送至 ${sent.phone}，${Math.round(sent.expires_in_secs / 60)} 分钟内有效。`, true);
    $("verify-code").focus();
    countdown(send, sent.resend_after_secs);
  } catch (err) {
    say(status, errorText(err));
    send.disabled = false;
  }
}

async function confirmCode(e) {
  e.preventDefault();
  const phone = $("verify-phone").value.trim();
  const code = $("verify-code").value.trim();
  const status = $("verify-status");
  if (!phone || !code) return say(status, "请输入手机号和收到的验证码");
  const submit = $("verify-submit");
  submit.disabled = true;
  try {
    const verified = await api("POST", "/api/verification", { phone, code });
    say(status, "");
    $("verify-code").value = "";
    $("verify").hidden = true;
    notice(`手机号 ${verified.phone} 验证成功。`, "info");
    client.setVerification(verified.verification); // reconnects; the welcome retries what was pending
  } catch (err) {
    say(status, errorText(err));
  } finally {
    submit.disabled = false;
  }
}

/** 删除我的数据: the addresses kept with this browser's posts, and its verified number. */
async function forgetMe() {
  if (!window.confirm("删除本浏览器在互动中留下的网络地址和验证过的手机号？已公开的内容将匿名保留。")) return;
  try {
    await api("POST", "/api/viewer/forget", {
      viewer_token: client.welcome?.viewer?.token ?? undefined,
      verification: client.verification ?? undefined,
    });
    client.setVerification(null);
    notice("您的数据已删除。", "info");
  } catch (err) {
    notice(errorText(err));
  }
}

async function forgetVerification() {
  const token = client.verification;
  if (token) await api("POST", "/api/verification/end", { verification: token }).catch(() => {});
  client.setVerification(null);
  notice("已退出手机号验证。", "info");
}

// ---- rendering ----

function renderAll() {
  $("viewers").textContent = room.viewers === null ? "— 人在看" : `${room.viewers} 人在看`;
  let note = room.moderation === "pre" ? "本场采用先审后发：问题经工作人员审核后公开。" : "问题提交后即公开，不当内容将被处理。";
  if (room.slowMode > 0) note += ` 慢速模式：每 ${room.slowMode} 秒可发一次。`;
  $("moderation-note").textContent = note;
  renderPinned();
  renderMine();
  renderQuestions();
  renderComments();
  renderFeed();
}

function renderPinned() {
  const box = $("pinned");
  const q = room.pinned !== null ? room.questions.get(room.pinned) : null;
  box.hidden = !q;
  redraw(box, () => box.replaceChildren(...(q ? [el("p", "pinned-label", "置顶问题"), questionItem(q, "div")] : [])));
}

function questionItem(q, tag = "li") {
  const item = el(tag, "post");
  item.dataset.id = q.id;
  const meta = el("p", "post-meta");
  meta.append(el("span", "nick", q.nickname), ` · ${clock(q.created_at)}`);
  if (room.mine.has(q.id)) meta.append(" ", el("span", "tag tag-mine", "我的"));
  if (q.edited) meta.append(" ", el("span", "tag", "已编辑"));
  if (q.answered) meta.append(" ", el("span", "tag tag-answered", "已回答"));
  item.append(meta, el("p", "post-text", q.text));
  if (q.answer) {
    const answer = el("p", "answer");
    answer.append(el("strong", null, "嘉宾回答："), document.createTextNode(q.answer));
    item.append(answer);
  }
  if (!room.mine.has(q.id)) item.append(reportButton(q));
  const voted = room.upvoted.has(q.id);
  // The name is what it shows ("赞 3"), pressed once upvoted; not disabled,
  // so that the keyboard's focus stays on it (aria-disabled says it is done).
  const button = el("button", "upvote", `赞 ${q.upvotes}`);
  button.type = "button";
  button.dataset.upvote = q.id;
  button.setAttribute("aria-pressed", String(voted));
  if (voted) button.setAttribute("aria-disabled", "true");
  item.append(button);
  return item;
}

function ownItem(q) {
  const item = el("li", `post own own-${q.status}`);
  item.dataset.id = q.id;
  const meta = el("p", "post-meta");
  meta.append(el("span", `tag tag-${q.status}`, labelOf(OWN_STATUS, q.status)), ` · ${clock(q.created_at)}`);
  item.append(meta, el("p", "post-text", q.text));
  if (q.status === "rejected" && q.reject_reason) item.append(el("p", "reason", `理由：${q.reject_reason}`));
  if (q.appeal) item.append(el("p", `appeal appeal-${q.appeal.status}`, appealText(q.appeal)));
  else if (q.status === "rejected") {
    const appeal = el("button", "link-button", "申诉");
    appeal.type = "button";
    appeal.dataset.appeal = q.id;
    item.append(appeal);
  }
  return item;
}

function renderMine() {
  const unpublished = [...room.mine.values()].filter((q) => q.status !== "approved");
  const questions = unpublished.filter((q) => q.kind !== "comment").sort((a, b) => b.id - a.id);
  const comments = unpublished.filter((q) => q.kind === "comment").sort((a, b) => b.id - a.id);
  $("mine-title").hidden = questions.length === 0;
  redraw($("mine"), () => $("mine").replaceChildren(...questions.map(ownItem)));
  redraw($("my-comments"), () => $("my-comments").replaceChildren(...comments.map(ownItem)));
}

function renderQuestions() {
  const list = [...room.questions.values()];
  if ($("sort").value === "votes") list.sort((a, b) => b.upvotes - a.upvotes || a.id - b.id);
  else list.sort((a, b) => b.id - a.id);
  redraw($("questions"), () => $("questions").replaceChildren(...list.map((q) => questionItem(q))));
  $("questions-empty").hidden = list.length > 0;
  $("question-count").textContent = list.length ? `（${list.length}）` : "";
}

function renderComments() {
  const list = [...room.comments.values()].sort((a, b) => b.id - a.id);
  const item = (c) => {
    const li = el("li", "post comment");
    const meta = el("p", "post-meta");
    meta.append(el("span", "nick", c.nickname), ` · ${clock(c.created_at)}`);
    li.append(meta, el("p", "post-text", c.text));
    if (!room.mine.has(c.id)) li.append(reportButton(c));
    return li;
  };
  redraw($("comments"), () => $("comments").replaceChildren(...list.map(item)));
  $("comments-empty").hidden = list.length > 0;
}

// ---- the text feed (图文直播) ----

const feedItems = new Map(); // update id -> { node, key }: an item is rebuilt only when it changed

function renderFeed() {
  const count = showFeed($("feed"), feedItems, room.updates.values(), (u) => {
    const item = el("li", "post feed-item");
    item.append(...updateContent(u));
    return item;
  });
  $("feed-empty").hidden = count > 0;
}

/** A new update: counted on the tab's badge unless the viewer is reading the feed. */
function feedPosted(id) {
  if (isSelected("feed")) return;
  room.feedUnseen.add(id);
  showFeedBadge();
}

function showFeedBadge() {
  const badge = $("feed-badge");
  const unseen = room.feedUnseen.size;
  badge.hidden = unseen === 0;
  badge.replaceChildren(String(unseen), el("span", "visually-hidden", " 条新内容"));
}

// ---- reports and appeals (举报受理) ----

function reportButton(post) {
  const b = el("button", "link-button report", "举报");
  b.type = "button";
  b.dataset.report = post.id;
  b.setAttribute("aria-label", `举报 ${post.nickname} 的这条内容`);
  return b;
}

/** Where an appeal stands, for its author. */
function appealText(a) {
  if (a.status === "open") return `申诉处理中${a.due_on ? `，应于 ${a.due_on} 前答复` : ""}：${a.text}`;
  const outcome = a.status === "upheld" ? "申诉成立，问题已公开" : "维持原决定";
  return `${outcome}。答复：${a.reply ?? ""}`;
}

/** The post being reported or appealed (set when its dialog opens). */
const reviewing = { post: null };

function openReport(id) {
  const post = room.questions.get(id) ?? room.comments.get(id);
  if (!post) return;
  reviewing.post = id;
  $("report-subject").textContent = `${post.nickname}：${post.text}`;
  $("report-form").reset();
  $("report-dialog").showModal();
}

async function sendReport(e) {
  e.preventDefault();
  const reason = new FormData($("report-form")).get("reason");
  if (!reason) return;
  const id = reviewing.post;
  $("report-dialog").close();
  try {
    await client.request({ type: "report", post_id: id, reason });
    notice("举报已提交，感谢您的监督。", "info");
  } catch (err) {
    if (err.code === "verification_required") openVerify(() => client.request({ type: "report", post_id: id, reason }).then(() => notice("举报已提交，感谢您的监督。", "info"), (e2) => notice(roomErrorText(e2))));
    else notice(err.code === "already_reported" ? "您已经举报过这条内容" : roomErrorText(err));
  }
}

function openAppeal(id) {
  const own = room.mine.get(id);
  if (!own) return;
  reviewing.post = id;
  $("appeal-subject").textContent = own.text;
  $("appeal-text").value = "";
  $("appeal-dialog").showModal();
}

async function sendAppeal(e) {
  e.preventDefault();
  const text = $("appeal-text").value.trim();
  if (!text) return;
  const id = reviewing.post;
  $("appeal-dialog").close();
  try {
    const ack = await client.request({ type: "appeal", question_id: id, text });
    if (ack.question) room.mine.set(ack.question.id, ack.question);
    notice("申诉已提交，工作人员会尽快答复。", "info");
    render();
  } catch (err) {
    notice(err.code === "already_appealed" ? "这条提问已经申诉过" : roomErrorText(err));
  }
}

function wireReviews() {
  const click = (e) => {
    const report = e.target.closest("button[data-report]");
    if (report) return openReport(Number(report.dataset.report));
    const appeal = e.target.closest("button[data-appeal]");
    if (appeal) openAppeal(Number(appeal.dataset.appeal));
  };
  for (const list of ["questions", "pinned", "comments", "mine", "my-comments"]) $(list).addEventListener("click", click);
  $("report-form").addEventListener("submit", sendReport);
  $("appeal-form").addEventListener("submit", sendAppeal);
  $("report-cancel").addEventListener("click", () => $("report-dialog").close());
  $("appeal-cancel").addEventListener("click", () => $("appeal-dialog").close());
}

// ---- polls: each card is built once per status so a half-filled ballot survives tallies ----

const pollCards = new Map(); // poll id -> { root, status, results }

function renderPolls() {
  const polls = [...room.polls.values()].sort((a, b) => (a.status === b.status ? b.id - a.id : a.status === "open" ? -1 : 1));
  const box = $("polls");
  polls.forEach((poll, i) => {
    let card = pollCards.get(poll.id);
    if (!card || card.status !== poll.status) {
      const fresh = pollCard(poll);
      if (card) card.root.replaceWith(fresh.root);
      card = fresh;
      pollCards.set(poll.id, card);
    }
    const results = pollResults(poll, poll.tally);
    card.results.replaceWith(results);
    card.results = results;
    // Keeps the order (open polls first, newest first), moving a card only
    // when out of place: a card moved loses the focus it holds.
    if (box.children[i] !== card.root) box.insertBefore(card.root, box.children[i] ?? null);
  });
  $("polls-empty").hidden = polls.length > 0;
}

function pollCard(poll) {
  const root = el("article", `poll poll-${poll.status}`);
  root.dataset.poll = poll.id;
  const head = el("p", "post-meta");
  head.append(el("span", "tag", labelOf(POLL_KIND, poll.kind)), " ", el("span", `tag tag-${poll.status}`, labelOf(POLL_STATUS, poll.status)));
  root.append(head, el("h3", "poll-title", poll.title));
  if (poll.status === "open") root.append(ballot(poll));
  const mine = room.myVotes.get(poll.id);
  if (mine) {
    const voted = el("p", "voted muted", poll.allow_change && poll.status === "open" ? "您已投票，可修改后重新提交。" : "您已投票。");
    voted.tabIndex = -1; // where the focus goes once the vote is in
    root.append(voted);
  }
  const results = el("div");
  root.append(results);
  return { root, status: poll.status, results };
}

function ballot(poll) {
  const form = el("form", "ballot");
  const mine = room.myVotes.get(poll.id);
  const fieldset = el("fieldset");
  const legend = el("legend", "visually-hidden", poll.title);
  fieldset.append(legend);
  const name = `poll-${poll.id}`;
  if (poll.kind === "single_choice" || poll.kind === "multiple_choice") {
    const multi = poll.kind === "multiple_choice";
    if (multi) fieldset.append(el("p", "muted", `最多选 ${poll.max_choices} 项`));
    poll.options.forEach((option, i) => {
      const label = el("label", "choice");
      const input = el("input");
      input.type = multi ? "checkbox" : "radio";
      input.name = name;
      input.value = String(i);
      input.checked = Boolean(mine?.choices?.includes(i));
      label.append(input, document.createTextNode(option));
      fieldset.append(label);
    });
    if (multi) {
      fieldset.addEventListener("change", () => {
        const boxes = [...fieldset.querySelectorAll("input")];
        const full = boxes.filter((b) => b.checked).length >= poll.max_choices;
        boxes.forEach((b) => (b.disabled = full && !b.checked));
      });
    }
  } else if (poll.kind === "rating") {
    const row = el("div", "rating");
    for (let i = 1; i <= 5; i++) {
      const label = el("label", "choice");
      const input = el("input");
      input.type = "radio";
      input.name = name;
      input.value = String(i);
      label.append(input, document.createTextNode(`${i} 分`));
      row.append(label);
    }
    fieldset.append(row);
  } else {
    const id = `poll-text-${poll.id}`;
    const label = el("label", null, "您的回答（最多 30 字）");
    label.htmlFor = id;
    const input = el("input");
    input.id = id;
    input.name = name;
    input.maxLength = 30;
    input.value = mine?.text ?? "";
    fieldset.append(label, input);
  }
  const button = el("button", null, mine ? "修改投票" : "投票");
  button.type = "submit";
  button.disabled = Boolean(mine) && !poll.allow_change;
  form.append(fieldset, button);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    vote(poll, form, button);
  });
  return form;
}

async function vote(poll, form, button) {
  const message = { type: "vote", poll_id: poll.id };
  const inputs = [...form.querySelectorAll("input")];
  if (poll.kind === "open_text") message.text = inputs[0].value.trim();
  else {
    const picked = inputs.filter((i) => i.checked).map((i) => Number(i.value));
    if (poll.kind === "rating") message.rating = picked[0];
    else message.choices = picked;
  }
  button.disabled = true;
  try {
    const ack = await client.request(message);
    room.myVotes.set(poll.id, { poll_id: poll.id, choices: message.choices ?? [], text: message.text ?? null, text_status: ack.text_status ?? null });
    const held = ack.text_status === "pending" ? "，回答待审核后显示" : ack.text_status === "rejected" ? "，但回答未通过审核" : "";
    notice(`${ack.changed ? "已修改投票" : "投票成功"}${held}`, "info");
    const card = pollCards.get(poll.id);
    if (card) card.status = null; // rebuild with "您已投票"
    renderPolls();
    // The ballot was replaced: the focus goes to what it became, not to the page's top.
    pollCards.get(poll.id)?.root.querySelector(".voted")?.focus();
  } catch (err) {
    if (err.code === "verification_required") openVerify(() => vote(poll, form, button));
    else notice(roomErrorText(err));
    button.disabled = false;
  }
}

// ---- actions ----

async function post(type, textarea, button) {
  const text = textarea.value.trim();
  if (!text) return;
  // A nickname typed but not saved is still the one the viewer means to post
  // under: save it first. The nickname travels in `hello`, so the client
  // reconnects, and the post goes out (same ref) once the room has it.
  const nickname = $("nickname").value.trim();
  if (nickname !== client.nickname) {
    if ([...nickname].length > 20) return notice("昵称最多 20 个字");
    client.setNickname(nickname);
  }
  button.disabled = true;
  try {
    const message = { type, text };
    // A verified asker may opt out of the text message telling them the unit answered.
    if (type === "ask" && !$("notify-row").hidden) message.notify = $("ask-notify").checked;
    const ack = await client.request(message);
    textarea.value = "";
    updateCount();
    const q = ack.question;
    const what = type === "ask" ? "问题" : "评论";
    if (q.status === "pending") postStatus(type, `${what}已提交，审核通过后公开。`, true);
    else if (q.status === "rejected") postStatus(type, `${what}未通过：${q.reject_reason ?? ""}`, false);
    else postStatus(type, `${what}已发布。`, true);
  } catch (err) {
    // The typed text stays: it goes out once the viewer is verified.
    if (err.code === "verification_required") openVerify(() => post(type, textarea, button));
    else if (err.frame?.retry_after_ms) waitToPost(type, err, button);
    else postStatus(type, roomErrorText(err), false);
  } finally {
    button.disabled = !takesPosts(room.status) || room.paused || Boolean(postWait[type]);
  }
}

/** The outcome of a viewer's last post, kept under its form until the next one. */
function postStatus(type, text, ok) {
  const line = $(`${type}-status`);
  clearInterval(postWait[type]);
  postWait[type] = null;
  line.textContent = text;
  line.className = `post-status ${ok ? "msg-ok" : "msg-error"}`;
  line.hidden = false;
}

/**
 * Too fast (rate_limited) or slow mode: the form's button stays off and its
 * line counts down the seconds the server named (`retry_after_ms`), then
 * says the viewer may send again. The typed text stays.
 */
function waitToPost(type, err, button) {
  const until = Date.now() + err.frame.retry_after_ms;
  const base = labelOf(ROOM_ERROR, err.code);
  postStatus(type, "", false);
  const line = $(`${type}-status`);
  line.dataset.wait = "on";
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left > 0) {
      line.textContent = `${base}，请 ${left} 秒后再发送`;
      return;
    }
    postStatus(type, "现在可以再次发送。", true);
    delete line.dataset.wait;
    button.disabled = !takesPosts(room.status) || room.paused;
  };
  tick();
  postWait[type] = setInterval(tick, 1000);
}

function updateCount() {
  $("ask-count").textContent = `${[...$("ask-text").value].length} / 300`;
}

function isSelected(name) {
  return $(`tab-${name}`).getAttribute("aria-selected") === "true";
}

function selectTab(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
  }
  if (name === "poll") $("poll-badge").hidden = true;
  if (name === "feed") {
    room.feedUnseen.clear();
    showFeedBadge();
  }
}

function wire() {
  $("ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    post("ask", $("ask-text"), e.submitter ?? $("ask-form").querySelector("button"));
  });
  $("comment-form").addEventListener("submit", (e) => {
    e.preventDefault();
    post("comment", $("comment-text"), e.submitter ?? $("comment-form").querySelector("button"));
  });
  $("ask-text").addEventListener("input", updateCount);
  $("nick-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const nickname = $("nickname").value.trim();
    if ([...nickname].length > 20) return notice("昵称最多 20 个字");
    client.setNickname(nickname);
    notice(nickname ? `昵称已设为“${nickname}”` : "将以“网友”身份参与", "info");
  });
  wireReviews();
  $("forget").addEventListener("click", forgetMe);
  $("verify-send").addEventListener("click", sendCode);
  $("verify-form").addEventListener("submit", confirmCode);
  $("questions").addEventListener("click", upvoteClick);
  $("pinned").addEventListener("click", upvoteClick);
  $("sort").addEventListener("change", render);
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => selectTab(tab.id.slice(4)));
    tab.addEventListener("keydown", (e) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      const next = tabs[(to + tabs.length) % tabs.length];
      next.focus();
      selectTab(next.id.slice(4));
    });
  });
}

async function upvoteClick(e) {
  const button = e.target.closest("button[data-upvote]");
  if (!button || button.getAttribute("aria-disabled") === "true") return;
  button.setAttribute("aria-disabled", "true"); // one upvote at a time
  await upvote(Number(button.dataset.upvote));
}

async function upvote(id) {
  try {
    const ack = await client.request({ type: "upvote", question_id: id });
    room.upvoted.add(id);
    const q = room.questions.get(id);
    if (q && typeof ack.upvotes === "number") q.upvotes = ack.upvotes;
  } catch (err) {
    if (err.code === "already_upvoted") room.upvoted.add(id);
    else if (err.code === "verification_required") openVerify(() => upvote(id));
    else notice(roomErrorText(err));
  }
  render();
}

if (eventId === null) {
  notice("这个链接不完整，没有指明是哪场活动。请从活动安排中选择活动进入。");
  showConnection($("conn"), "closed");
} else {
  wire();
  updateCount();
  $("nickname").value = client.nickname;
  loadEvent().catch(() => notice("活动信息加载失败。"));
  client.connect();
  // The player comes after the room; without a room in a few seconds, it comes anyway.
  setTimeout(startPlayer, 5000);
  // For debugging and the browser tests: `minshengLive.restart(ms)` drops the connection.
  window.minshengLive = client;
}
