// The unit workspace (/unit.html): the unit's events and deadlines (the event
// editor and lifecycle steps are in unit-events.js), hand-off tasks, the
// opinions with search, filters, an editor, bulk changes, merge, transfer,
// extension requests and exports, and the materials packages.
// Every write shows the API's answer next to the control that made it.

import { $, api, attempt, button, el, errorText, field, foundText, link, marked, messageSlot, option, rows, say, signedIn, tag, when } from "./dom.js";
import { ADOPTION, DEADLINE_STATE, EVENT_STATUS, EXTENSION, SOURCE, labelOf } from "./labels.js";
import { initEvents, openEvent } from "./unit-events.js";

const ENDED = new Set(["ended", "materials_published"]);
const FILTERS = ["q", "event", "state", "source", "topic", "from", "to"];
// The export takes the same filters as the list (GET /api/opinions/export).
const EXPORT_FILTERS = FILTERS;

const page = { me: null, units: [], events: [], checked: new Set(), list: [], current: null };

function deadlineCell(d) {
  if (!d || d.state === "not_applicable") return "—";
  const span = el("span");
  span.append(tag(labelOf(DEADLINE_STATE, d.state), d.state));
  if (d.due_date) span.append(el("span", "small", ` ${d.due_date}`));
  return span;
}

async function loadEvents() {
  const unit = page.units.find((u) => u.id === page.me.unit_id);
  $("unit-name").textContent = unit ? `· ${unit.short_name}` : "· 全部单位";
  const path = unit ? `/api/events?unit=${encodeURIComponent(unit.code)}` : "/api/events";
  const [events, deadlines] = await Promise.all([api("GET", path), api("GET", "/api/deadlines")]);
  page.events = events;
  const byEvent = new Map();
  for (const d of deadlines) {
    if (!byEvent.has(d.event_id)) byEvent.set(d.event_id, {});
    byEvent.get(d.event_id)[d.kind] = d;
  }
  const of = (e, kind) => byEvent.get(e.id)?.[kind] ?? e.deadlines.find((d) => d.kind === kind);
  rows($("events").tBodies[0], events, (e) => [
    ["活动", link(e.title, `/event.html?id=${e.id}`)],
    ["时间", when(e.starts_at)],
    ["状态", labelOf(EVENT_STATUS, e.status)],
    ["活动公告", deadlineCell(of(e, "announcement"))],
    ["遴选通知", deadlineCell(of(e, "selection_notice"))],
    ["材料公开", deadlineCell(of(e, "materials"))],
    ["操作", button("管理", () => openEvent(e.id), "secondary")],
  ]);
  markRows($("events"), events);
  const overdue = deadlines.filter((d) => d.state === "overdue").length;
  if (overdue) say($("page-status"), `有 ${overdue} 项活动工作时限已逾期，请尽快办理。`);

  const select = $("f-event");
  const chosen = select.value;
  select.replaceChildren(select.options[0]);
  for (const e of events) select.append(option(e.id, e.title));
  select.value = chosen;
  records(events.filter((e) => ENDED.has(e.status)));
}

/** Each row carries its record's id (`data-id`), for the tests and the keyboard alike. */
function markRows(table, list) {
  [...table.tBodies[0].rows].forEach((tr, i) => {
    if (list[i]) tr.dataset.id = list[i].id;
  });
}

/** The reply deadline's state as a tag: answered, or how it stands. */
function replyDue(o) {
  return tag(o.published_at ? "已答复" : labelOf(DEADLINE_STATE, o.deadline), o.deadline);
}

function handoffRow(o) {
  const ext = o.extension_pending ? tag("延期待批复", "pending") : "—";
  return [
    ["提问", o.text],
    ["活动", o.event_title],
    ["答复期限", o.due_date ?? "—"],
    ["期限状态", replyDue(o)],
    ["催办", o.reminders ? `${o.reminders} 次` : "—"],
    ["延期", ext],
    ["操作", button("办理", () => openEditor(o.id), "secondary")],
  ];
}

async function loadHandoff() {
  const list = await api("GET", "/api/opinions?handoff=true&limit=1000");
  rows($("handoff").tBodies[0], list, handoffRow, "暂无转办任务");
}

function filterParams(names) {
  const form = $("filters");
  const params = new URLSearchParams();
  for (const name of names) {
    const v = form.elements[name].value.trim();
    if (v) params.set(name, v);
  }
  return params;
}

function updateExports() {
  for (const format of ["csv", "xlsx"]) {
    const params = filterParams(EXPORT_FILTERS);
    params.set("format", format);
    $(`export-${format}`).href = `/api/opinions/export?${params}`;
  }
}

/**
 * What the citizen wrote; after a search, with the matches marked, and the
 * reply's matching part below when the query is there.
 */
function opinionText(o) {
  const h = o.highlight;
  if (!h) return o.text;
  const cell = el("div");
  cell.append(foundText(o.text, h.text));
  if (h.reply) {
    const p = el("p", "small found-in", "答复：");
    p.append(marked(h.reply));
    cell.append(p);
  }
  return cell;
}

function opinionRow(o) {
  const check = el("input");
  check.type = "checkbox";
  check.checked = page.checked.has(o.id);
  check.setAttribute("aria-label", `勾选：${o.text.slice(0, 20)}`);
  check.addEventListener("change", () => {
    if (check.checked) page.checked.add(o.id);
    else page.checked.delete(o.id);
    $("checked-count").textContent = page.checked.size;
  });
  const state = el("span");
  state.append(tag(o.state_label, o.state));
  state.append(el("span", "small", o.published_at ? " 已发布" : " 未发布"));
  const due = el("span");
  due.append(el("span", "small", `${o.due_date ?? "—"} `));
  due.append(replyDue(o));
  if (o.reminders) due.append(el("span", "small", ` 催办 ${o.reminders} 次`));
  const source = el("span");
  source.append(foundText(o.nickname, o.highlight?.nickname));
  source.append(`（${labelOf(SOURCE, o.source)}${o.support > 1 ? `，${o.support} 人` : ""}）`);
  return [
    ["勾选", check],
    ["意见建议", opinionText(o)],
    ["网民", source],
    ["活动", o.event_title],
    ["采纳状态", state],
    ["主题", o.topic ?? "—"],
    ["答复期限", due],
    ["操作", button("办理", () => openEditor(o.id), "secondary")],
  ];
}

async function loadList() {
  const params = filterParams(FILTERS);
  params.set("limit", "500");
  updateExports();
  try {
    page.list = await api("GET", `/api/opinions?${params}`);
  } catch (err) {
    say($("list-count"), errorText(err));
    return;
  }
  rows($("opinions").tBodies[0], page.list, opinionRow, "没有符合条件的意见建议");
  markRows($("opinions"), page.list);
  page.checked = new Set([...page.checked].filter((id) => page.list.some((o) => o.id === id)));
  $("checked-count").textContent = page.checked.size;
  const order = params.has("q") ? "按相关程度排序，匹配处已标出" : "已逾期的排在前面";
  say($("list-count"), `共 ${page.list.length} 条（${order}）`, true);
}

async function refresh() {
  await Promise.all([loadList(), loadHandoff()]);
}

// --- the editor -----------------------------------------------------------

async function openEditor(id) {
  const box = $("editor");
  let o;
  try {
    o = await api("GET", `/api/opinions/${id}`);
  } catch (err) {
    say($("page-status"), errorText(err));
    return;
  }
  page.current = o;
  box.hidden = false;
  $("editor-title").textContent = `办理意见 #${o.id}`;
  $("ed-quote").textContent = o.text;
  $("ed-personal").hidden = !o.personal_data_masked;
  // 回访: whether the verified asker is told by text message, and each try.
  $("ed-notify").hidden = !o.notify && o.notices.length === 0;
  $("ed-notify").textContent = o.notify
    ? o.published_at ? "提问人已验证手机号：答复发布时已短信告知（结果见办理记录）。" : "提问人已验证手机号：答复发布后将短信告知提问人。"
    : "";
  $("ed-meta").textContent =
    `${o.nickname} · ${labelOf(SOURCE, o.source)} · ${o.event_title} · 受理 ${when(o.received_at)} · ` +
    `答复期限 ${o.due_date ?? "—"}（${labelOf(DEADLINE_STATE, o.deadline)}）· 主责 ${o.unit_name}` +
    (o.published_at ? ` · 已于 ${when(o.published_at)} 发布` : " · 答复未发布");
  $("ed-state").value = o.state;
  $("ed-topic").value = o.topic ?? "";
  $("ed-reason").value = o.reason ?? "";
  $("ed-reply").value = o.reply ?? "";
  for (const id of ["ed-msg", "tr-msg", "ex-msg"]) say($(id), "");
  const history = $("ed-history");
  history.replaceChildren();
  const item = (text) => history.append(el("li", null, text));
  const unitName = (uid) => page.units.find((u) => u.id === uid)?.short_name ?? uid;
  for (const r of o.reminder_log) item(`催办：${when(r.sent_at)}${r.note ? `，${r.note}` : ""}`);
  for (const x of o.extensions) {
    item(`延期申请至 ${x.requested_due}（${x.reason}）：${labelOf(EXTENSION, x.decision)}${x.decision_note ? `，${x.decision_note}` : ""}`);
  }
  for (const t of o.transfers) item(`转办：${unitName(t.from_unit)} → ${unitName(t.to_unit)}，${t.reason}（${when(t.created_at)}）`);
  for (const m of o.merged) item(`已并入：#${m.id} ${m.text}`);
  for (const n of o.notices) {
    item(`短信告知 ${n.phone_masked}：${n.delivered ? "已发送" : `未送达（${n.detail ?? ""}）`}（${when(n.attempted_at)}）`);
  }
  if (!history.childElementCount) item("暂无");
  box.scrollIntoView({ block: "start" });
  $("ed-state").focus();
}

/** The citizen's text as written: fetched on purpose, and audited by the server. */
async function unmask() {
  const o = page.current;
  if (!o) return;
  try {
    const shown = await api("GET", `/api/opinions/${o.id}?personal_data=shown`);
    $("ed-quote").textContent = shown.text;
    $("ed-personal").hidden = true;
  } catch (err) {
    say($("ed-msg"), errorText(err));
  }
}

async function save() {
  const o = page.current;
  const updated = await api("PATCH", `/api/opinions/${o.id}`, {
    state: $("ed-state").value,
    reason: $("ed-reason").value.trim(),
    reply: $("ed-reply").value.trim(),
    topic: $("ed-topic").value.trim(),
    updated_at: o.updated_at,
  });
  page.current = { ...o, ...updated };
  return updated;
}

async function editorAction(publish) {
  const msg = $("ed-msg");
  const buttons = [$("ed-save"), $("ed-publish")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    await save();
    if (publish) await api("POST", `/api/opinions/${page.current.id}/publish`);
    const id = page.current.id;
    await refresh();
    await openEditor(id);
    say(msg, publish ? "答复已发布，公众可在活动页看到。" : "已保存。", true);
  } catch (err) {
    say(msg, errorText(err));
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

/** POST to the open opinion's `step` (transfer, extensions). */
function postStep(step, body) {
  return api("POST", `/api/opinions/${page.current.id}/${step}`, body);
}

function transfer() {
  return attempt($("tr-msg"), async () => {
    await postStep("transfer", { unit: $("tr-unit").value, reason: $("tr-reason").value.trim() });
    const to = $("tr-unit").selectedOptions[0]?.textContent ?? "";
    $("tr-reason").value = "";
    // The receiving unit answers it from now on: it leaves this unit's lists.
    $("editor").hidden = true;
    say($("page-status"), `意见 #${page.current.id} 已转办给${to}。`, true);
    await refresh();
  });
}

function extension() {
  const msg = $("ex-msg");
  const done = "延期申请已提交，等待数据局批复。";
  return attempt(msg, async () => {
    await postStep("extensions", { due_date: $("ex-date").value, reason: $("ex-reason").value.trim() });
    say(msg, done, true);
    $("ex-reason").value = "";
    const id = page.current.id;
    await refresh();
    await openEditor(id);
    say(msg, done, true);
  });
}

// --- bulk and merge -------------------------------------------------------

/** The checked ids in the order the list shows them. */
function checkedIds() {
  return page.list.filter((o) => page.checked.has(o.id)).map((o) => o.id);
}

async function bulk() {
  const msg = $("bulk-msg");
  const ids = checkedIds();
  if (!ids.length) return say(msg, "请先勾选意见。");
  const body = { ids };
  if ($("bulk-state").value) body.state = $("bulk-state").value;
  if ($("bulk-reason").value.trim()) body.reason = $("bulk-reason").value.trim();
  if ($("bulk-topic").value.trim()) body.topic = $("bulk-topic").value.trim();
  if (!body.state && !body.topic) return say(msg, "请选择要改的状态或填写主题。");
  return attempt(msg, async () => {
    const done = await api("POST", "/api/opinions/bulk", body);
    page.checked.clear();
    await refresh();
    say(msg, `已修改 ${done.length} 条。`, true);
  });
}

async function merge() {
  const msg = $("bulk-msg");
  const [primary, ...rest] = checkedIds();
  if (!rest.length) return say(msg, "请至少勾选两条重复的意见。");
  return attempt(msg, async () => {
    await api("POST", `/api/opinions/${primary}/merge`, { ids: rest });
    page.checked.clear();
    await refresh();
    say(msg, `已将 ${rest.length} 条并入 #${primary}。`, true);
  });
}

// --- materials packages ----------------------------------------------------

function records(events) {
  rows($("records").tBodies[0], events, (e) => {
    const preview = el("span");
    for (const format of ["html", "json", "xlsx"]) {
      preview.append(link(format.toUpperCase(), `/api/events/${e.id}/record?format=${format}`), " ");
    }
    const publish = el("div");
    if (e.status === "materials_published") {
      publish.append(link("已公开：查看公开页", `/events/${e.id}/record`));
    } else {
      const url = el("input");
      url.type = "url";
      url.placeholder = "https://…";
      url.value = e.video_url ?? "";
      const msg = messageSlot();
      const go = button("发布实录", async () => {
        go.disabled = true;
        try {
          await api("POST", `/api/events/${e.id}/record/publish`, { video_url: url.value.trim() || null });
          say(msg, "已发布。", true);
          await loadEvents().catch(() => {});
        } catch (err) {
          say(msg, errorText(err));
        }
        go.disabled = false;
      });
      const row = el("div", "actions");
      row.append(field(e.kind === "lecture" ? "视频链接（必填）" : "视频链接（可选）", url), go);
      publish.append(row, msg);
    }
    return [
      ["活动", e.title],
      ["状态", labelOf(EVENT_STATUS, e.status)],
      ["预览", preview],
      ["发布", publish],
    ];
  }, "暂无已结束的活动");
  markRows($("records"), events);
}

// --- start -----------------------------------------------------------------

function fillSelects() {
  for (const [v, text] of Object.entries(ADOPTION)) {
    for (const id of ["f-state", "bulk-state", "ed-state"]) $(id).append(option(v, text));
  }
  for (const [v, text] of Object.entries(SOURCE)) $("f-source").append(option(v, text));
  for (const u of page.units) {
    if (u.id !== page.me.unit_id) $("tr-unit").append(option(u.code, u.short_name));
  }
}

async function start() {
  const status = $("page-status");
  try {
    page.me = await signedIn(["unit_staff", "admin"]);
    if (!page.me) {
      say(status, "工作台只供各单位工作人员和数据局使用。");
      return;
    }
    page.units = await api("GET", "/api/units");
    fillSelects();
    $("filters").addEventListener("submit", (e) => {
      e.preventDefault();
      loadList();
    });
    $("filters").addEventListener("reset", () => setTimeout(loadList, 0));
    $("bulk-apply").addEventListener("click", bulk);
    $("merge").addEventListener("click", merge);
    $("ed-form").addEventListener("submit", (e) => {
      e.preventDefault();
      editorAction(false);
    });
    $("ed-publish").addEventListener("click", () => editorAction(true));
    $("ed-close").addEventListener("click", () => ($("editor").hidden = true));
    $("ed-unmask").addEventListener("click", unmask);
    $("tr-go").addEventListener("click", transfer);
    $("ex-go").addEventListener("click", extension);
    await initEvents(page.me, page.units, () => Promise.all([loadEvents(), refresh()]));
    await Promise.all([loadEvents(), refresh()]);
  } catch (err) {
    say(status, `加载失败：${errorText(err)}`);
  }
}

start();
