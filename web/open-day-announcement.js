// The selection announcement (遴选公告) on the unit's page of an open day in
// person (/open-day.html): its text, places, sign-up window in Beijing
// time, when applicants hear back, the sign-up form's optional fields, and
// the groups wanted with their shares (editable rows, suggestions, the sum
// shown and refused unless 100); save, publish, close sign-ups early. Fixed
// once the chosen are set. `page` is the state open-day.js keeps.

import { $, api, button, confirmBox, el, errorText, field, link, option, say, tag, when } from "./dom.js";
import { FIELD_RULE, GROUP_PRESETS, SELECTION_STATE, labelOf } from "./labels.js";
import { refuse } from "./open-day-list.js";

let page = null;
let refresh = async () => {};

// --- Beijing time in the inputs ------------------------------------------------

/** An instant → `YYYY-MM-DDTHH:MM` in Beijing (UTC+8 all year) for a datetime-local input. */
function localInput(iso) {
  return iso ? new Date(Date.parse(iso) + 8 * 3600 * 1000).toISOString().slice(0, 16) : "";
}

/** A datetime-local value, read as Beijing time by the API (`YYYY-MM-DDTHH:MM:00`). */
function localValue(value) {
  return value ? `${value}:00` : "";
}

// --- the announcement -----------------------------------------------------------------

/** Where the announcement stands: `draft`, `soon`, `open`, `closed` or `chosen`. */
function phase(s) {
  if (!s) return "draft";
  if (s.drawn_at) return "chosen";
  if (!s.published_at) return "draft";
  const now = Date.now();
  if (s.closed_at || Date.parse(s.closes_at) <= now) return "closed";
  return Date.parse(s.opens_at) > now ? "soon" : "open";
}

/** The announcement's state, its note and which buttons apply (after every read). */
export function showSelectionState() {
  const s = page.selection;
  const now = phase(s);
  $("sel-state").replaceChildren(tag(labelOf(SELECTION_STATE, now), now));
  const notes = {
    draft: s ? "已保存，尚未发布：发布后公众可在报名页看到公告并报名。" : "尚未发布遴选公告。填写后保存或直接发布；发布后公众可在报名页报名。",
    soon: `已发布，报名将于 ${when(s?.opens_at)} 开始。`,
    open: `报名中，截止 ${when(s?.closes_at)}；已报名 ${s?.applicants ?? 0} 人。`,
    closed: "报名已截止：请在“报名与遴选”中随机抽选或按名单选定。",
    chosen: "已选定入选人员并公示：公告不能再修改。",
  };
  $("sel-note").textContent = notes[now];
  $("sel-fields").disabled = now === "chosen";
  $("sel-buttons").hidden = now === "chosen";
  $("sel-publish").hidden = Boolean(s?.published_at);
  $("sel-close").hidden = !(now === "open" || now === "soon");
  if ($("sel-close").hidden) $("sel-close-confirm").hidden = true;
  const pub = $("sel-public");
  pub.replaceChildren();
  if (s?.published_at) pub.append("公众报名页：", link(`/signup.html?event=${page.id}`, `/signup.html?event=${page.id}`));
}

/** Fill the editor from `s` (null: empty, one blank group row). */
export function fillSelection(s) {
  $("sel-text").value = s?.text ?? "";
  $("sel-places").value = s?.places ?? "";
  $("sel-opens").value = localInput(s?.opens_at);
  $("sel-closes").value = localInput(s?.closes_at);
  $("sel-reply").value = s?.reply_by ?? "";
  $("sel-street").value = s?.fields?.street ?? "optional";
  $("sel-reason").value = s?.fields?.reason ?? "optional";
  $("sel-groups").replaceChildren();
  for (const g of s?.groups ?? []) addGroup(g.name, g.share);
  if (!s) addGroup("", "");
  showSum();
}

let groupCounter = 0;

/** One editable row: the group's name and its share; `focus` puts the cursor in it. */
function addGroup(name, share, focus = false) {
  const n = ++groupCounter;
  const li = el("li", "group-row");
  const nameInput = el("input");
  nameInput.id = `sel-group-${n}`;
  nameInput.className = "group-name";
  nameInput.maxLength = 20;
  nameInput.autocomplete = "off";
  nameInput.setAttribute("list", "group-names");
  nameInput.value = name;
  const shareInput = el("input");
  shareInput.id = `sel-share-${n}`;
  shareInput.className = "group-share";
  shareInput.type = "number";
  shareInput.min = "0";
  shareInput.max = "100";
  shareInput.step = "1";
  shareInput.inputMode = "numeric";
  shareInput.value = share;
  const remove = button("删除", () => {
    const next = li.nextElementSibling ?? li.previousElementSibling;
    li.remove();
    showSum();
    (next?.querySelector("input") ?? $("sel-add")).focus();
  }, "secondary");
  const label = () => remove.setAttribute("aria-label", `删除群体 ${nameInput.value || n}`);
  label();
  nameInput.addEventListener("input", label);
  li.append(field("群体名称", nameInput), field("比例（%）", shareInput, "field share"), remove);
  $("sel-groups").append(li);
  if (focus) (name ? shareInput : nameInput).focus();
  showSum();
  return li;
}

/** The rows as `{name, share}` (share NaN when not a number). */
function groupRows() {
  return [...$("sel-groups").querySelectorAll(".group-row")].map((li) => ({
    li,
    name: li.querySelector(".group-name").value.trim(),
    share: Number(li.querySelector(".group-share").value === "" ? NaN : li.querySelector(".group-share").value),
  }));
}

function shareSum() {
  return groupRows().reduce((sum, g) => sum + (Number.isFinite(g.share) ? g.share : 0), 0);
}

function showSum() {
  const sum = shareSum();
  const node = $("sel-sum");
  node.textContent = sum === 100 ? "合计 100%" : `合计 ${sum}%，须为 100%`;
  node.classList.toggle("bad", sum !== 100);
}

function preset(name) {
  const row = groupRows().find((g) => g.name === name);
  if (row) row.li.querySelector(".group-share").focus();
  else {
    const empty = groupRows().find((g) => !g.name && !Number.isFinite(g.share));
    if (empty) {
      empty.li.querySelector(".group-name").value = name;
      empty.li.querySelector(".group-share").focus();
    } else addGroup(name, "", true);
  }
  showSum();
}

/** The form as the API's body, or null with the reason shown and the control focused. */
function selectionBody() {
  const msg = $("sel-msg");
  for (const n of $("sel-form").querySelectorAll("[aria-invalid]")) n.removeAttribute("aria-invalid");
  const text = $("sel-text").value.trim();
  const places = Number($("sel-places").value);
  const opens = $("sel-opens").value;
  const closes = $("sel-closes").value;
  const reply = $("sel-reply").value;
  if (!text) return refuse(msg, "sel-text", "请填写公告正文");
  if (!Number.isInteger(places) || places < 1 || places > 10000) return refuse(msg, "sel-places", "现场名额为 1–10000 的整数");
  if (!opens) return refuse(msg, "sel-opens", "请填写报名开始时间");
  if (!closes) return refuse(msg, "sel-closes", "请填写报名截止时间");
  if (closes <= opens) return refuse(msg, "sel-closes", "报名截止须晚于报名开始");
  if (!reply) return refuse(msg, "sel-reply", "请填写结果告知日期");
  const groups = groupRows();
  if (groups.length === 0) {
    say(msg, "请至少添加一个群体");
    $("sel-add").focus();
    return null;
  }
  const seen = new Set();
  for (const g of groups) {
    const nameInput = g.li.querySelector(".group-name");
    const shareInput = g.li.querySelector(".group-share");
    if (!g.name) return refuse(msg, nameInput.id, "请填写群体名称");
    if (seen.has(g.name)) return refuse(msg, nameInput.id, `群体“${g.name}”重复了`);
    seen.add(g.name);
    if (!Number.isInteger(g.share) || g.share < 0 || g.share > 100) return refuse(msg, shareInput.id, "比例为 0–100 的整数");
  }
  const sum = shareSum();
  if (sum !== 100) {
    const last = groups[groups.length - 1].li.querySelector(".group-share");
    return refuse(msg, last.id, `各群体比例合计为 ${sum}%，须为 100%，未保存`);
  }
  return {
    text,
    places,
    opens_at: localValue(opens),
    closes_at: localValue(closes),
    reply_by: reply,
    groups: groups.map((g) => ({ name: g.name, share: g.share })),
    // Sent every time: a save without them would set both back to optional.
    fields: { street: $("sel-street").value, reason: $("sel-reason").value },
  };
}

/** The API's error on the announcement, beside its control. */
function selectionError(err) {
  const msg = $("sel-msg");
  const ids = {
    text: "sel-text",
    places: "sel-places",
    opens_at: "sel-opens",
    closes_at: "sel-closes",
    reply_by: "sel-reply",
    fields: "sel-street",
  };
  const field = err.details?.field;
  if (err.code === "wrong_status") {
    say(msg, "入选人员已经确定，公告不能再修改。");
    refresh();
  } else if (field === "groups") refuse(msg, "sel-add", `群体设置有误：${err.message}`);
  else if (ids[field]) refuse(msg, ids[field], errorText(err));
  // A time the API cannot read is named `starts_at` whichever it was.
  else if (field === "starts_at") refuse(msg, "sel-opens", `报名时间格式有误（${err.message}）`);
  else say(msg, errorText(err));
}

async function saveSelection(publish) {
  const body = selectionBody();
  if (!body) return;
  const buttons = [$("sel-save"), $("sel-publish")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    page.selection = await api("PUT", `/api/events/${page.id}/selection`, body);
    if (publish) page.selection = await api("POST", `/api/events/${page.id}/selection/publish`);
    await refresh();
    fillSelection(page.selection);
    say($("sel-msg"), publish ? "公告已发布：公众可在报名页看到并报名。" : "已保存。", true);
  } catch (err) {
    selectionError(err);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

async function closeSignUps() {
  const ok = $("sel-close-ok");
  ok.disabled = true;
  try {
    await api("POST", `/api/events/${page.id}/selection/close`);
    $("sel-close-confirm").hidden = true;
    await refresh();
    say($("sel-msg"), "报名已截止。", true);
    $("sel-msg").scrollIntoView({ block: "nearest" });
  } catch (err) {
    say($("sel-msg"), errorText(err));
  } finally {
    ok.disabled = false;
  }
}

/** Wire the announcement's controls; `state` is the page's, `reload` reads everything again. */
export function initAnnouncement(state, reload) {
  page = state;
  refresh = reload;
  $("sel-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveSelection(false);
  });
  $("sel-form").addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
  $("sel-publish").addEventListener("click", () => saveSelection(true));
  confirmBox($("sel-close"), $("sel-close-confirm"), $("sel-close-ok"), $("sel-close-cancel"));
  $("sel-close-ok").addEventListener("click", closeSignUps);
  $("sel-add").addEventListener("click", () => addGroup("", "", true));
  $("sel-groups").addEventListener("input", showSum);
  for (const name of GROUP_PRESETS) {
    const b = button(name, () => preset(name), "secondary");
    b.dataset.preset = name;
    b.setAttribute("aria-label", `添加群体：${name}`);
    $("sel-presets").append(b);
  }
  for (const id of ["sel-street", "sel-reason"]) {
    $(id).append(...Object.entries(FIELD_RULE).map(([value, words]) => option(value, words)));
  }
}
