// The unit's page of an open day in person (/open-day.html?event=ID), for
// the data bureau and the event's host units: the event, the place's
// capacity and what to bring, the selection announcement (遴选公告, in
// open-day-announcement.js), the list, choosing, invitations and the notices
// (open-day-list.js); what representatives said in person, the principal
// leader's attendance, and the participation figures. Every write shows the
// API's answer, or its error in Chinese, beside its own control.

import { $, api, beijingDay, el, errorText, fact, link, option, say, signedIn, tag, when } from "./dom.js";
import { EVENT_STATUS, FORM, GROUP_PRESETS, labelOf } from "./labels.js";
import { fillSelection, initAnnouncement, showSelectionState } from "./open-day-announcement.js";
import { initList, refuse, showList } from "./open-day-list.js";

const ENDED = new Set(["ended", "materials_published"]);
const IN_PERSON = new Set(["offline", "online_offline"]);

const page = {
  id: null,
  me: null,
  event: null,
  settings: { capacity: null, bring: null },
  /** The announcement as the public reads it (GET, with counts and the result), or as last saved. */
  selection: null,
  people: [],
  messages: [],
  /** The materials package (活动实录), once the event has ended. */
  record: null,
  /** The principal leaders as recorded from this page (the API has no way to read them before the record). */
  leaders: null,
};

// --- loading -----------------------------------------------------------------------

/** The announcement as published, or null (none yet, or not published). */
async function readSelection() {
  try {
    return await api("GET", `/api/events/${page.id}/selection`);
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

/** Read the event, its announcement, list and messages again, and show them. */
async function refresh() {
  try {
    const [event, selection, people, messages] = await Promise.all([
      api("GET", `/api/events/${page.id}`),
      readSelection(),
      api("GET", `/api/events/${page.id}/participants`),
      api("GET", `/api/events/${page.id}/participant-messages`),
    ]);
    page.event = event;
    // An announcement saved but not published is only known from its PUT.
    if (selection || !page.selection || page.selection.published_at) page.selection = selection;
    page.people = people;
    page.messages = messages;
    page.record = ENDED.has(event.status) ? await api("GET", `/api/events/${page.id}/record`) : null;
    showInfo();
    showSelectionState();
    showList();
    showFigures();
  } catch (err) {
    say($("page-status"), `刷新失败：${errorText(err)}`);
  }
}

// --- the event ---------------------------------------------------------------

function showInfo() {
  const e = page.event;
  document.title = `线下活动：${e.title} · 民声`;
  $("event-title").textContent = e.title;
  const dl = $("info-facts");
  dl.replaceChildren();
  fact(dl, "活动", e.title);
  fact(dl, "时间（北京时间）", e.duration_minutes ? `${when(e.starts_at)}，${e.duration_minutes} 分钟` : when(e.starts_at));
  fact(dl, "地点", e.venue ?? "待定");
  fact(dl, "形式", labelOf(FORM, e.form));
  fact(dl, "状态", labelOf(EVENT_STATUS, e.status));
  fact(dl, "主办单位", e.hosts.map((h) => h.short_name).join("、"));
  const links = $("info-links");
  links.replaceChildren(
    link("报名页", `/signup.html?event=${e.id}`),
    link("签到页", `/door.html?event=${e.id}`),
    link("公开活动页", `/event.html?id=${e.id}`),
  );
  if (e.status === "materials_published") links.append(link("活动实录", `/events/${e.id}/record`));
  else if (e.status === "ended") links.append(link("活动实录预览（HTML）", `/api/events/${e.id}/record?format=html`));
  else links.append(el("span", "muted", "活动结束后可预览活动实录"));
  if (!IN_PERSON.has(e.form)) say($("info-msg"), "本活动形式为线上直播：一般不需要线下遴选、邀请和签到。");
}

// --- the place ---------------------------------------------------------------

function showSettings() {
  $("pl-capacity").value = page.settings.capacity ?? "";
  $("pl-bring").value = page.settings.bring ?? "";
}

async function saveSettings(e) {
  e.preventDefault();
  const msg = $("place-msg");
  const raw = $("pl-capacity").value.trim();
  const capacity = raw === "" ? null : Number(raw);
  if (capacity !== null && !(Number.isInteger(capacity) && capacity >= 1 && capacity <= 100000)) {
    return refuse(msg, "pl-capacity", "容纳人数为 1–100000 的整数，或留空表示不限");
  }
  const bring = $("pl-bring").value.trim() || null;
  const save = $("pl-save");
  save.disabled = true;
  try {
    page.settings = await api("PUT", `/api/events/${page.id}/attendance`, { capacity, bring });
    showSettings();
    const listed = page.people.filter((p) => p.status === "chosen").length;
    const room = page.settings.capacity ? `容纳 ${page.settings.capacity} 人，名单现有 ${listed} 人` : "不限人数";
    say(msg, `已保存：${room}。`, true);
    showList();
  } catch (err) {
    const ids = { capacity: "pl-capacity", bring: "pl-bring" };
    if (ids[err.details?.field]) refuse(msg, ids[err.details.field], errorText(err));
    else say(msg, errorText(err));
  } finally {
    save.disabled = false;
  }
}

// --- what was said in person ---------------------------------------------------------------

async function recordOpinion(e) {
  e.preventDefault();
  const msg = $("opinion-msg");
  const done = $("opinion-done");
  const group = $("op-group").value.trim();
  const text = $("op-text").value.trim();
  const consent = $("op-consent").checked;
  const name = $("op-name").value.trim();
  if (!group) return refuse(msg, "op-group", "请填写发言人群体");
  if (!text) return refuse(msg, "op-text", "请填写意见内容");
  const body = { text, in_person: { group, named_with_consent: consent } };
  // A name only with the speaker's consent; without it the opinion is signed 现场代表.
  if (consent && name) body.nickname = name;
  const submit = $("op-submit");
  submit.disabled = true;
  done.hidden = true;
  try {
    const o = await api("POST", `/api/events/${page.id}/opinions`, body);
    $("op-text").value = "";
    $("op-name").value = "";
    $("op-consent").checked = false;
    const unnamed = name && !consent ? "（未勾选本人同意署名，姓名未记录）" : "";
    say(msg, `已记录意见，编号 ${o.id}，署名“${o.nickname}”${unnamed}。`, true);
    done.replaceChildren(
      `答复期限：${o.due_date ?? "活动结束后起算"}。`,
      link("到单位工作台办理意见建议", "/unit.html#opinions-title"),
    );
    done.hidden = false;
    $("op-text").focus();
  } catch (err) {
    const ids = { text: "op-text", nickname: "op-name", "in_person.group": "op-group" };
    if (err.code === "wrong_status") say(msg, "筹备中或已取消的活动不能记录意见。");
    else if (ids[err.details?.field]) refuse(msg, ids[err.details.field], errorText(err));
    else say(msg, errorText(err));
  } finally {
    submit.disabled = false;
  }
}

// --- the principal leader ---------------------------------------------------------------

function showLeaderForm() {
  const hosts = page.event.hosts;
  const admin = page.me.role === "admin";
  $("ld-unit-field").hidden = !admin;
  const own = hosts.find((h) => h.id === page.me.unit_id);
  $("ld-unit-own").hidden = admin;
  $("ld-unit-own").textContent = own ? `主办单位：${own.short_name}` : "您所在的单位不是本活动的主办单位。";
  $("ld-save").disabled = !admin && !own;
  if (admin) $("ld-unit").replaceChildren(...hosts.map((h) => option(h.id, h.short_name)));
  fillLeader();
}

/** The chosen unit's leader as the record has it (once the event has ended). */
function fillLeader() {
  const admin = page.me.role === "admin";
  const unitId = admin ? Number($("ld-unit").value) : page.me.unit_id;
  const unit = page.event.hosts.find((h) => h.id === unitId);
  const recorded = page.record?.participation?.principal_leaders ?? [];
  const known = recorded.find((l) => l.unit_name === unit?.short_name);
  $("ld-attended").checked = known?.attended ?? false;
  $("ld-title").value = known?.leader ?? "";
}

async function saveLeader(e) {
  e.preventDefault();
  const msg = $("leader-msg");
  const body = { attended: $("ld-attended").checked, leader: $("ld-title").value.trim() || null };
  if (page.me.role === "admin") body.unit_id = Number($("ld-unit").value);
  const save = $("ld-save");
  save.disabled = true;
  try {
    page.leaders = await api("PUT", `/api/events/${page.id}/leader`, body);
    const unitId = body.unit_id ?? page.me.unit_id;
    const unit = page.event.hosts.find((h) => h.id === unitId)?.short_name ?? "";
    say(msg, `已记录：${unit}主要负责同志${body.attended ? `${body.leader ? `（${body.leader}）` : ""}出席` : "未出席"}。`, true);
    if (page.record) page.record = await api("GET", `/api/events/${page.id}/record`);
    showFigures();
  } catch (err) {
    if (err.details?.field === "leader") refuse(msg, "ld-title", errorText(err));
    else say(msg, errorText(err));
  } finally {
    save.disabled = false;
  }
}

// --- participation ---------------------------------------------------------------

/** The in-person figures from the list, as the record counts them (before the event ends). */
function figuresFromList() {
  const people = page.people;
  const due = page.event.deadlines?.find((d) => d.kind === "selection_notice")?.due_date ?? null;
  const count = (f) => people.filter(f).length;
  const onList = (p) => p.status === "chosen";
  const groups = [...new Set(people.filter(onList).map((p) => p.group_name))].sort();
  return {
    applicants: count((p) => p.kind === "applicant"),
    chosen: count((p) => p.kind === "applicant" && p.status === "chosen"),
    invited: count((p) => p.kind === "invited"),
    walk_ins: count((p) => p.kind === "walk_in"),
    notified: count((p) => p.notice_sent === true),
    notified_on_time: due ? count((p) => p.notice_sent === true && beijingDay(p.notified_at) <= due) : null,
    attended: count((p) => Boolean(p.checked_in_at)),
    by_group: groups.map((g) => ({
      group: g,
      on_list: count((p) => onList(p) && p.group_name === g),
      attended: count((p) => Boolean(p.checked_in_at) && p.group_name === g),
    })),
  };
}

/** The principal leaders known to this page: the record's, else those recorded here. */
function leadersKnown() {
  if (page.record) return page.record.participation.principal_leaders;
  if (!page.leaders) return null;
  return page.leaders.map((l) => ({
    unit_name: page.event.hosts.find((h) => h.id === l.unit_id)?.short_name ?? String(l.unit_id),
    attended: l.attended,
    leader: l.leader,
  }));
}

function showFigures() {
  const t = page.record?.participation ?? figuresFromList();
  $("figures-source").textContent = page.record
    ? "数字取自活动实录。"
    : "活动尚未结束：现场数字按当前名单实时统计，线上参与数字在活动结束后取自活动实录。";
  const counts = [
    ["报名", t.applicants],
    ["入选", t.chosen],
    ["定向邀请", t.invited],
    ["现场加入", t.walk_ins],
    ["已通知", t.notified],
    ["按时通知", t.notified_on_time],
    ["到场", t.attended],
  ];
  if (page.record) {
    counts.push(
      ["线上参与人数", t.online_participants],
      ["线上提问", t.questions],
      ["线上评论", t.comments],
      ["投票", t.votes],
    );
    if (t.peak_viewers !== undefined) counts.push(["在线观看峰值", t.peak_viewers]);
  }
  $("figures-counts").replaceChildren(
    ...counts.map(([name, value]) => {
      const li = el("li");
      li.append(el("span", null, name), el("strong", null, value ?? "—"));
      return li;
    }),
  );
  const tbody = $("by-group").tBodies[0];
  tbody.replaceChildren();
  for (const g of t.by_group) {
    const tr = el("tr");
    for (const [caption, value] of [["群体", g.group], ["名单人数", g.on_list], ["到场", g.attended]]) {
      const td = el("td", caption === "群体" ? null : "num", value);
      td.dataset.label = caption;
      tr.append(td);
    }
    tbody.append(tr);
  }
  if (t.by_group.length === 0) {
    const td = el("td", "muted", "名单上还没有人");
    td.colSpan = 3;
    const tr = el("tr");
    tr.append(td);
    tbody.append(tr);
  }
  const leaders = leadersKnown();
  const list = $("leaders");
  if (!leaders || leaders.length === 0) {
    list.replaceChildren(el("li", "muted", page.record ? "尚未记录" : "本页尚未记录（已记录的在活动结束后随活动实录显示）"));
    return;
  }
  list.replaceChildren(
    ...leaders.map((l) => {
      const li = el("li");
      li.append(
        el("strong", null, l.unit_name),
        " ",
        tag(l.attended ? "出席" : "未出席", l.attended ? "met" : "not_adopted"),
        l.leader ? ` ${l.leader}` : "",
      );
      return li;
    }),
  );
}

// --- start ----------------------------------------------------------------------------

function wire() {
  $("place-form").addEventListener("submit", saveSettings);
  $("group-names").append(...GROUP_PRESETS.map((name) => option(name, name)));
  for (const form of ["place-form", "opinion-form", "leader-form"]) {
    $(form).addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
  }
  $("opinion-form").addEventListener("submit", recordOpinion);
  $("leader-form").addEventListener("submit", saveLeader);
  $("ld-unit").addEventListener("change", fillLeader);
  $("list-refresh").addEventListener("click", async () => {
    await refresh();
    say($("choose-msg"), "名单已刷新。", true);
  });
  initAnnouncement(page, refresh);
  initList(page, refresh);
}

async function start() {
  const status = $("page-status");
  const me = await signedIn(["admin", "unit_staff"]);
  if (!me) {
    say(status, "您的账号不能管理线下活动：请使用主办单位工作人员或数据局的账号登录。");
    return;
  }
  const id = new URLSearchParams(location.search).get("event");
  if (!id || !/^\d{1,15}$/.test(id)) {
    say(status, "这个链接不完整，没有指明是哪场活动。请从单位工作台的活动管理进入。");
    return;
  }
  page.id = Number(id);
  page.me = me;
  try {
    // The list first: it says whether this account manages the event (403).
    page.people = await api("GET", `/api/events/${page.id}/participants`);
    page.settings = await api("GET", `/api/events/${page.id}/attendance`).catch((err) => {
      if (err.status === 404) return { capacity: null, bring: null };
      throw err;
    });
  } catch (err) {
    if (err.status === 403) say(status, "您所在的单位不是本活动的主办单位，不能管理本活动的线下参与。");
    else if (err.status === 404) say(status, "没有找到这场活动。");
    else say(status, `加载失败：${errorText(err)}`);
    return;
  }
  wire();
  await refresh();
  if (!page.event) return;
  showSettings();
  fillSelection(page.selection);
  showLeaderForm();
  const names = new Set(page.people.map((p) => p.group_name));
  for (const g of page.selection?.groups ?? []) names.add(g.name);
  for (const name of names) if (!GROUP_PRESETS.includes(name)) $("group-names").append(option(name, name));
  say(status, "");
  $("sections").hidden = false;
}

start();
