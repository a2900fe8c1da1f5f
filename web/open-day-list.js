// The list of an open day in person, on the unit's page (/open-day.html):
// the counts per group, everyone who signed up, choosing by hand (入选 /
// 候补 per applicant, reserves in the order they are marked) or by the
// published draw, invitations by name, the list of those who come with a
// way to take someone off it, and the notices with their message log.
// `page` is the state open-day.js keeps; `refresh()` reads the list again.

import { $, api, button, confirmBox, el, errorText, rows, say, tag, when } from "./dom.js";
import { MESSAGE_KIND, PARTICIPANT_KIND, PARTICIPANT_STATUS, SELECTION_METHOD, labelOf } from "./labels.js";

let page = null;
let refresh = async () => {};

/** The choice by hand: reference → `chosen` / `reserve`; reserves in the order marked. */
const marks = new Map();
let reserveOrder = [];

// --- helpers ---------------------------------------------------------------------

const nameOf = (reference) => page.people.find((p) => p.reference === reference)?.name ?? reference;

/** A person's place on the list in words: an invited person is on it, not "chosen". */
function statusWords(p) {
  if (p.status === "chosen" && p.kind !== "applicant") return "已列入名单";
  if (p.status === "reserve" && p.rank) return `${PARTICIPANT_STATUS.reserve}第 ${reserveRank(p)} 位`;
  return labelOf(PARTICIPANT_STATUS, p.status);
}

/** A reserve's place in the order they move up (ranks may have gaps after moves). */
function reserveRank(p) {
  const order = page.people.filter((x) => x.status === "reserve").sort((a, b) => a.rank - b.rank);
  return order.findIndex((x) => x.reference === p.reference) + 1;
}

/** Places per group: `places × share / 100`, the largest remainders rounded up (as the draw does). */
function quotas(places, groups) {
  const exact = groups.map((g) => [Math.floor((places * g.share) / 100), (places * g.share) % 100]);
  const out = exact.map(([q]) => q);
  let left = places - out.reduce((a, b) => a + b, 0);
  const order = groups.map((_, i) => i).sort((a, b) => exact[b][1] - exact[a][1]);
  for (const i of order) {
    if (left <= 0) break;
    out[i] += 1;
    left -= 1;
  }
  return out;
}

/** Whether the unit may choose now: the announcement published, nobody chosen yet. */
function choosing() {
  const s = page.selection;
  return Boolean(s?.published_at) && !s.drawn_at;
}

function code(text) {
  return el("code", null, text);
}

// --- counts and the list of applicants -----------------------------------------

function showCounts() {
  const s = page.selection;
  const groups = s?.groups_now ?? [];
  const targets = s ? quotas(s.places, groups) : [];
  rows(
    $("group-counts").tBodies[0],
    groups,
    (g) => [
      ["群体", g.group],
      ["比例", `${g.share}%`],
      ["应选名额", `${targets[groups.indexOf(g)]} 人`],
      ["已报名", `${g.applied} 人`],
      ["入选", s.drawn_at ? `${g.chosen} 人` : "—"],
    ],
    "遴选公告发布后显示",
  );
}

function showPeople() {
  const open = choosing();
  // Forget marks of people who are no longer waiting to be chosen.
  const waiting = new Set(page.people.filter((p) => p.status === "applied").map((p) => p.reference));
  for (const r of [...marks.keys()]) if (!waiting.has(r)) marks.delete(r);
  reserveOrder = reserveOrder.filter((r) => marks.get(r) === "reserve");

  const list = page.people.filter((p) => p.kind === "applicant");
  $("people-count").textContent = `（${list.length} 人）`;
  $("choose-hint").hidden = !open;
  peopleRows(
    $("people"),
    list,
    (p) => [
      ["街道/镇", p.street ?? "—"],
      ["申请理由", p.reason ?? "—"],
      ["状态", statusWords(p)],
      ["来源", labelOf(PARTICIPANT_KIND, p.kind)],
      ["遴选", open && p.status === "applied" ? choiceCell(p) : "—"],
    ],
    "暂无报名",
  );
  $("choose-box").hidden = !open;
  showManualSummary();
}

/** The select 未入选 / 入选 / 候补 of one applicant, and their place among the reserves. */
function choiceCell(p) {
  const wrap = el("span", "choice-cell");
  const select = el("select");
  select.setAttribute("aria-label", `遴选：${p.name}`);
  select.dataset.reference = p.reference;
  for (const [value, text] of [["", "未入选"], ["chosen", "入选"], ["reserve", "候补"]]) {
    const o = el("option", null, text);
    o.value = value;
    select.append(o);
  }
  select.value = marks.get(p.reference) ?? "";
  const place = el("span", "muted small reserve-place");
  wrap.append(select, place);
  select.addEventListener("change", () => mark(p.reference, select.value));
  return wrap;
}

function mark(reference, value) {
  reserveOrder = reserveOrder.filter((r) => r !== reference);
  if (value) marks.set(reference, value);
  else marks.delete(reference);
  if (value === "reserve") reserveOrder.push(reference);
  $("manual-confirm").hidden = true;
  showManualSummary();
}

function showManualSummary() {
  for (const span of $("people").querySelectorAll(".reserve-place")) {
    const reference = span.previousElementSibling.dataset.reference;
    const i = reserveOrder.indexOf(reference);
    span.textContent = i >= 0 ? `第 ${i + 1} 位` : "";
  }
  if (!page.selection) return;
  const chosen = [...marks.values()].filter((v) => v === "chosen").length;
  const order = reserveOrder.map(nameOf).join("、");
  $("manual-summary").textContent =
    `已标记入选 ${chosen} 人（名额 ${page.selection.places} 人），候补 ${reserveOrder.length} 人` +
    (order ? `，递补顺序：${order}。` : "。");
}

// --- choosing --------------------------------------------------------------------

function askManual() {
  const msg = $("choose-msg");
  const chosen = [...marks].filter(([, v]) => v === "chosen").map(([r]) => r);
  if (chosen.length === 0) return say(msg, "请先在名单中为至少一位报名者选择“入选”。");
  if (chosen.length > page.selection.places) {
    return say(msg, `入选 ${chosen.length} 人，超过了现场名额 ${page.selection.places} 人，请减少入选人数。`);
  }
  say(msg, "");
  $("manual-confirm-text").textContent =
    `确定按名单选定入选 ${chosen.length} 人、候补 ${reserveOrder.length} 人吗？` +
    "选定后报名截止，结果（姓名和手机号打码）立即公示，不能再修改。";
  $("manual-confirm").hidden = false;
  $("manual-ok").focus();
}

async function chooseByHand() {
  const chosen = [...marks].filter(([, v]) => v === "chosen").map(([r]) => r);
  await choose("manual", { chosen, reserves: [...reserveOrder] }, $("manual-confirm"), $("manual-ok"));
}

async function draw() {
  const seed = $("draw-seed").value.trim();
  await choose("draw", seed ? { seed } : {}, $("draw-confirm"), $("draw-ok"));
}

/** POST the choice (`manual`: by hand, `draw`) and show the result. */
async function choose(how, body, box, ok) {
  const msg = $("choose-msg");
  ok.disabled = true;
  try {
    const done = await api("POST", `/api/events/${page.id}/selection/${how === "draw" ? "draw" : "choose"}`, body);
    box.hidden = true;
    marks.clear();
    reserveOrder = [];
    const r = done.result;
    let text = `已选定：入选 ${r.chosen.length} 人，候补 ${r.reserves.length} 人，结果已在报名页公示。`;
    if (r.seed) text += `随机种子：${r.seed}。`;
    say(msg, `${text}请在“参加通知”中发送通知。`, true);
    await refresh();
    $("result-title").focus();
  } catch (err) {
    box.hidden = true;
    const field = err.details?.field;
    if (err.code === "invalid" && (field === "chosen" || field === "reserves")) {
      say(msg, `${field === "chosen" ? "入选名单" : "候补名单"}有误：${err.message}`);
    } else if (err.code === "wrong_status") {
      say(msg, "不能选定：遴选公告尚未发布，或入选人员已经确定。");
      refresh();
    } else {
      say(msg, errorText(err));
    }
  } finally {
    ok.disabled = false;
  }
}

function showResult() {
  const s = page.selection;
  const r = s?.result;
  $("result").hidden = !r;
  if (!r) return;
  const at = s.drawn_at ? `，${when(s.drawn_at)} 确定` : "";
  $("result-method").textContent = `遴选方式：${labelOf(SELECTION_METHOD, r.method)}${at}。公示名单中姓名和手机号打码。`;
  $("result-seed").hidden = !r.seed;
  $("seed").textContent = r.seed ?? "";
  $("chosen-count").textContent = `（${r.chosen.length} 人）`;
  $("reserves-count").textContent = `（${r.reserves.length} 人）`;
  const item = (p) => el("li", null, `${nameOf(p.reference)}（${p.group}，${p.reference}）`);
  $("chosen").replaceChildren(...r.chosen.map(item));
  $("reserves").replaceChildren(...r.reserves.map(item));
  if (r.reserves.length === 0) $("reserves").append(el("li", "muted", "无候补人员"));
}

// --- invitations and the list of those who come --------------------------------

async function invite(e) {
  e.preventDefault();
  const msg = $("invite-msg");
  const body = {
    name: $("inv-name").value.trim(),
    group: $("inv-group").value.trim(),
    organisation: $("inv-org").value.trim() || null,
    phone: $("inv-phone").value.trim(),
  };
  const missing = [["inv-name", body.name, "请填写姓名"], ["inv-group", body.group, "请填写群体"], ["inv-phone", body.phone, "请填写手机号"]];
  for (const [id, value, text] of missing) {
    if (!value) return refuse(msg, id, text);
  }
  const submit = $("inv-submit");
  submit.disabled = true;
  try {
    const p = await api("POST", `/api/events/${page.id}/invitations`, body);
    $("invite-form").reset();
    say(msg, `已邀请 ${p.name}（${p.group_name}），报名编号 ${p.reference}，已列入参加名单。请在“参加通知”中发送通知。`, true);
    await refresh();
    $("inv-name").focus();
  } catch (err) {
    const field = err.details?.field;
    const ids = { name: "inv-name", group: "inv-group", organisation: "inv-org", phone: "inv-phone" };
    if (err.code === "capacity_reached") {
      say(msg, `名单已达到场地容纳人数（${page.settings.capacity ?? "—"} 人），不能再邀请；如需增加，请先修改“场地与须知”中的容纳人数。`);
    } else if (err.code === "invalid" && field === "phone") {
      refuse(msg, "inv-phone", "请填写正确的 11 位手机号");
    } else if (err.code === "invalid" && ids[field]) {
      refuse(msg, ids[field], errorText(err));
    } else {
      say(msg, errorText(err));
    }
  } finally {
    submit.disabled = false;
  }
}

/** Refuse a value: the words in `msg`, the control marked and focused (the page's other parts use it too). */
export function refuse(msg, id, text) {
  say(msg, text);
  $(id).setAttribute("aria-invalid", "true");
  $(id).focus();
}

/** The notice of one person on the list, in words. */
function noticeWords(p) {
  if (p.kind === "walk_in") return "现场加入，无需通知";
  if (!p.notified_at) return "未通知";
  return p.notice_sent ? `已发送 ${when(p.notified_at, { year: false })}` : `发送失败 ${when(p.notified_at, { year: false })}`;
}

function showAttending() {
  const list = page.people.filter((p) => p.status === "chosen");
  const capacity = page.settings.capacity;
  $("attend-count").textContent = capacity ? `（${list.length} / 容纳 ${capacity} 人）` : `（${list.length} 人）`;
  peopleRows(
    $("attending"),
    list,
    (p) => [
      ["单位/身份", p.organisation ?? "—"],
      ["来源", labelOf(PARTICIPANT_KIND, p.kind)],
      ["参加通知", tag(noticeWords(p), p.notice_sent ? "met" : p.notified_at ? "overdue" : "pending")],
      ["签到", p.checked_in_at ? `已签到 ${when(p.checked_in_at, { year: false })}` : "未签到"],
      ["操作", removeCell(p)],
    ],
    "名单上还没有人",
  );
}

/**
 * A table of people (报名 or 参加名单): who each one is in the first four
 * columns, `more(p)` after them; each row keeps its person's reference.
 */
function peopleRows(table, list, more, empty) {
  const tbody = table.tBodies[0];
  rows(
    tbody,
    list,
    (p) => [["报名编号", code(p.reference)], ["姓名", p.name], ["手机号", p.phone_masked], ["群体", p.group_name], ...more(p)],
    empty,
  );
  [...tbody.rows].forEach((tr, i) => {
    if (list[i]) tr.dataset.reference = list[i].reference;
  });
}

/** 移出名单, confirmed in place. */
function removeCell(p) {
  const cell = el("span", "remove-cell");
  const ask = button("移出名单", null, "secondary");
  ask.setAttribute("aria-label", `将 ${p.name} 移出名单`);
  const confirm = el("span", "remove-confirm");
  confirm.hidden = true;
  const ok = button("确定移出", () => remove(p, ok));
  const cancel = button("取消", () => {
    confirm.hidden = true;
    ask.hidden = false;
    ask.focus();
  }, "secondary");
  confirm.append(el("span", "small", `确定将 ${p.name} 移出名单？`), ok, cancel);
  ask.addEventListener("click", () => {
    ask.hidden = true;
    confirm.hidden = false;
    ok.focus();
  });
  cell.append(ask, confirm);
  return cell;
}

async function remove(p, ok) {
  const msg = $("attend-msg");
  ok.disabled = true;
  try {
    const done = await api("DELETE", `/api/events/${page.id}/participants/${encodeURIComponent(p.reference)}`);
    let text = `已将 ${p.name}（${p.reference}）移出名单。`;
    if (done.moved_up) text += `候补 ${nameOf(done.moved_up)}（${done.moved_up}）已递补入选，请为其发送参加通知。`;
    else if (p.kind === "applicant") text += "没有候补人员可以递补。";
    await refresh();
    say(msg, text, true);
    $("attend-title").focus();
  } catch (err) {
    ok.disabled = false;
    say(msg, err.status === 409 ? `${p.name} 已经不在名单上了。` : errorText(err));
    if (err.status === 409) refresh();
  }
}

// --- notices ---------------------------------------------------------------------

/** Who is owed a notice: chosen or invited, not yet notified (walk-ins are there already). */
function owed() {
  return page.people.filter((p) => p.status === "chosen" && p.kind !== "walk_in" && !p.notified_at);
}

function showNotices() {
  const deadline = page.event.deadlines?.find((d) => d.kind === "selection_notice");
  const rule = $("notice-rule");
  rule.replaceChildren("按计划，参加通知须在活动前 1 个工作日前发出（逐人计算）");
  if (deadline?.due_date) rule.append(`，截止 ${deadline.due_date}`);
  if (deadline?.people) {
    const n = deadline.people;
    rule.append(`。应通知 ${n.people} 人：按时 ${n.on_time} 人，逾期 ${n.late} 人，未通知 ${n.not_notified} 人`);
  }
  rule.append("。");
  const failed = page.people.filter((p) => p.status === "chosen" && p.notified_at && p.notice_sent === false);
  const waiting = owed();
  let text = waiting.length ? `待通知 ${waiting.length} 人：${waiting.map((p) => p.name).join("、")}。` : "名单上的人员都已通知。";
  if (failed.length) text += ` 发送失败 ${failed.length} 人（${failed.map((p) => p.name).join("、")}），请电话联系。`;
  $("notice-owed").textContent = text;
  const cancelled = page.event.status === "cancelled" || page.event.status === "draft";
  $("notice-send").disabled = cancelled;

  rows(
    $("messages").tBodies[0],
    page.messages,
    (m) => [
      ["时间", when(m.sent_at, { year: false })],
      ["报名编号", code(m.reference)],
      ["姓名", nameOf(m.reference)],
      ["类型", labelOf(MESSAGE_KIND, m.kind)],
      ["结果", tag(m.delivered ? "已发送" : "发送失败", m.delivered ? "met" : "overdue")],
      ["说明", m.detail ?? "—"],
    ],
    "还没有发送过短信",
  );
}

async function sendNotices() {
  const msg = $("notice-msg");
  const go = $("notice-send");
  go.disabled = true;
  try {
    const r = await api("POST", `/api/events/${page.id}/notices`);
    let text = r.sent + r.failed === 0 ? "没有需要通知的人员。" : `已发送 ${r.sent} 条通知`;
    if (r.failed) text += `，${r.failed} 条发送失败（见短信记录）`;
    if (r.sent + r.failed) text += "。";
    if (r.due) text += `截止 ${r.due}。`;
    if (r.late && r.sent + r.failed) text += "已过截止日期：本次通知记为逾期。";
    say(msg, text, !r.failed && !(r.late && r.sent + r.failed));
    await refresh();
  } catch (err) {
    say(msg, err.code === "wrong_status" ? "不能发送：活动还没有确定时间，或处于筹备中、已取消。" : errorText(err));
  } finally {
    go.disabled = false;
  }
}

// --- wiring ----------------------------------------------------------------------

/** Show the list's parts from `page` (after every read). */
export function showList() {
  showCounts();
  showPeople();
  showResult();
  showAttending();
  showNotices();
}

/** Wire the list's controls; `state` is the page's, `reload` reads the list again and shows it. */
export function initList(state, reload) {
  page = state;
  refresh = reload;
  $("manual-go").addEventListener("click", askManual);
  $("manual-cancel").addEventListener("click", () => {
    $("manual-confirm").hidden = true;
    $("manual-go").focus();
  });
  $("manual-ok").addEventListener("click", chooseByHand);
  confirmBox($("draw-go"), $("draw-confirm"), $("draw-ok"), $("draw-cancel"));
  $("draw-ok").addEventListener("click", draw);
  $("invite-form").addEventListener("submit", invite);
  $("invite-form").addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
  $("notice-send").addEventListener("click", sendNotices);
  for (const id of ["result-title", "attend-title"]) $(id).tabIndex = -1;
}
