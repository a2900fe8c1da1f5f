// Event management in the unit workspace (/unit.html): create and edit an
// event, announce it (the parts the announcement lacks are named next to
// their fields), record the selected participants' notice, go live and end,
// reschedule (a change report to the bureau) and cancel. Every step is one
// API call whose answer, or error in Chinese, is shown beside its control.

import { $, api, confirmBox, deadlineItem, el, errorText, link, option, say, tag, when } from "./dom.js";
import { ANNOUNCEMENT_PART, EVENT_STATUS, FORM, KIND, labelOf } from "./labels.js";

/** The API's field names → the control and its error slot (`ev-<field>-err`). */
const CONTROL = {
  code: "ev-code",
  kind: "ev-kind",
  form: "ev-form-kind",
  theme: "ev-theme",
  title: "ev-name",
  host_units: "ev-lead",
  starts_at: "ev-start",
  duration_minutes: "ev-duration",
  venue: "ev-venue",
  stream_url: "ev-stream",
  audience_limit: "ev-limit",
  agenda: "ev-agenda",
  participation: "ev-participation",
  summary: "ev-summary",
  identity_mode: "ev-identity",
  change_reason: "ev-change-reason",
};
const EDITABLE = new Set(["draft", "announced", "rescheduled"]);
const BEFORE_LIVE = new Set(["announced", "rescheduled"]);
const ENDED = new Set(["ended", "materials_published"]);
const IN_PERSON = new Set(["offline", "online_offline"]);
const ALL_MESSAGES = ["ev-step-msg", "ev-msg", "ev-notice-msg", "ev-live-msg", "ev-rs-msg", "ev-cancel-msg"];

const state = { me: null, units: [], event: null, changed: async () => {} };

/** `2025-05-20T09:30:00+08:00` (a `*_local` field) → `2025-05-20T09:30` for a datetime-local input. */
function localInput(local) {
  return local ? local.slice(0, 16) : "";
}

function text(id) {
  return $(id).value.trim();
}

function orNull(value) {
  return value === "" ? null : value;
}

function numberOrNull(id) {
  const v = text(id);
  return v === "" ? null : Number(v);
}

// --- field errors ------------------------------------------------------------

function clearFieldErrors() {
  for (const [field, id] of Object.entries(CONTROL)) {
    $(id).removeAttribute("aria-invalid");
    $(`ev-${field}-err`).textContent = "";
  }
}

function fieldError(field, message) {
  const key = field === "unit" ? "host_units" : field;
  if (!CONTROL[key]) return null;
  $(CONTROL[key]).setAttribute("aria-invalid", "true");
  $(`ev-${key}-err`).textContent = message;
  return $(CONTROL[key]);
}

/**
 * An API error in `msg`, and beside the control that caused it: `controls`
 * maps the API's field names to a step's own inputs; without it, the form's.
 */
function showError(err, msg, controls) {
  say(msg, errorText(err));
  const field = err.details?.field;
  if (controls) {
    const id = controls[field];
    if (id) {
      $(id).setAttribute("aria-invalid", "true");
      $(id).focus();
    }
    return;
  }
  if (err.code === "announcement_incomplete" && Array.isArray(err.details?.missing)) {
    const names = err.details.missing.map((m) => labelOf(ANNOUNCEMENT_PART, m));
    say(msg, `公告内容不完整，还缺：${names.join("、")}。请补全后再发布。`);
    let first = null;
    for (const m of err.details.missing) {
      const control = fieldError(m, `公告须写明${labelOf(ANNOUNCEMENT_PART, m)}`);
      first ??= control;
    }
    first?.focus();
  } else if (field) {
    fieldError(field, errorText(err))?.focus();
  } else if (err.code === "conflict" && !state.event) {
    // Creating: the only conflict is a code another event already has.
    say(msg, "活动编号已被其他活动使用，请换一个。");
    fieldError("code", "活动编号已被使用，请换一个")?.focus();
  }
}

// --- the form ----------------------------------------------------------------

function fillSelects(themes) {
  for (const [v, name] of Object.entries(KIND)) $("ev-kind").append(option(v, name));
  for (const [v, name] of Object.entries(FORM)) $("ev-form-kind").append(option(v, name));
  for (const t of themes) $("ev-theme").append(option(t.code, t.name));
  const boxes = $("ev-cohosts");
  for (const u of state.units) {
    $("ev-lead").append(option(u.code, u.short_name));
    const box = el("input");
    box.type = "checkbox";
    box.value = u.code;
    box.id = `ev-cohost-${u.code}`;
    const label = el("label", "choice");
    label.append(box, ` ${u.short_name}`);
    boxes.append(label);
  }
  $("ev-kind").addEventListener("change", syncKind);
  $("ev-lead").addEventListener("change", syncLead);
}

/** The lead host is not offered again among the co-hosts. */
function syncLead() {
  for (const box of $("ev-cohosts").querySelectorAll("input")) {
    const lead = box.value === $("ev-lead").value;
    box.parentElement.hidden = lead;
    if (lead) box.checked = false;
  }
}

/** A theme belongs to open days only. */
function syncKind() {
  const openDay = $("ev-kind").value === "open_day";
  $("ev-theme-field").hidden = !openDay;
}

/** Fill the form from `e` (null: a new event of the signed-in unit). */
function fillForm(e) {
  const own = state.units.find((u) => u.id === state.me.unit_id);
  const hosts = e ? e.hosts.map((h) => h.code) : own ? [own.code] : [];
  $("ev-code").value = e?.code ?? "";
  $("ev-code").disabled = Boolean(e);
  $("ev-kind").value = e?.kind ?? "open_day";
  $("ev-form-kind").value = e?.form ?? "online";
  $("ev-theme").value = e?.theme?.code ?? "";
  $("ev-name").value = e?.title ?? "";
  $("ev-lead").value = hosts[0] ?? "";
  for (const box of $("ev-cohosts").querySelectorAll("input")) box.checked = hosts.slice(1).includes(box.value);
  $("ev-start").value = localInput(e?.starts_at_local);
  $("ev-duration").value = e?.duration_minutes ?? "";
  $("ev-venue").value = e?.venue ?? "";
  $("ev-stream").value = e?.stream_url ?? "";
  $("ev-limit").value = e?.audience_limit ?? "";
  $("ev-selection").checked = Boolean(e?.public_selection);
  $("ev-identity").value = e?.identity_mode ?? "verified";
  $("ev-identity").disabled = Boolean(e) && e.status !== "draft";
  $("ev-change-row").hidden = !e || e.status === "draft";
  $("ev-change-reason").value = "";
  $("ev-agenda").value = e?.agenda ?? "";
  $("ev-participation").value = e?.participation ?? "";
  $("ev-summary").value = e?.summary ?? "";
  syncKind();
  syncLead();
}

/** The form as a request body; the time only while it may change by editing. */
function body() {
  const lead = $("ev-lead").value;
  const cohosts = [...$("ev-cohosts").querySelectorAll("input:checked")].map((b) => b.value).filter((c) => c !== lead);
  const kind = $("ev-kind").value;
  const b = {
    kind,
    title: text("ev-name"),
    theme: kind === "open_day" ? orNull($("ev-theme").value) : null,
    host_units: lead ? [lead, ...cohosts] : cohosts,
    form: $("ev-form-kind").value,
    summary: text("ev-summary"),
    venue: orNull(text("ev-venue")),
    agenda: orNull(text("ev-agenda")),
    participation: orNull(text("ev-participation")),
    stream_url: orNull(text("ev-stream")),
    audience_limit: numberOrNull("ev-limit"),
    public_selection: $("ev-selection").checked,
  };
  if (!state.event || state.event.status === "draft") {
    b.identity_mode = $("ev-identity").value;
    b.starts_at = orNull($("ev-start").value);
    b.duration_minutes = numberOrNull("ev-duration");
  }
  if (!state.event) b.code = text("ev-code");
  if (state.event && state.event.status !== "draft" && text("ev-change-reason")) b.change_reason = text("ev-change-reason");
  return b;
}

/** Create the event or save the changes; resolves with the saved event. */
async function save() {
  clearFieldErrors();
  const saved = state.event
    ? await api("PATCH", `/api/events/${state.event.id}`, body())
    : await api("POST", "/api/events", body());
  show(saved);
  await state.changed();
  return saved;
}

// --- showing an event ----------------------------------------------------------

/** Show `e` (null: a new event) with the steps its status allows. */
function show(e) {
  state.event = e;
  const status = e?.status ?? "new";
  $("ev-editor").dataset.status = status;
  $("ev-heading").textContent = e ? `管理活动：${e.title}` : "新建活动";
  const line = $("ev-status");
  line.replaceChildren();
  if (e) {
    line.append("状态：", tag(labelOf(EVENT_STATUS, status), status), ` · ${labelOf(KIND, e.kind)} · ${when(e.starts_at)}`);
    if (e.duration_minutes) line.append(`，${e.duration_minutes} 分钟`);
    if (e.cancel_reason) line.append(` · 取消理由：${e.cancel_reason}`);
    line.append(" · ", link("公开页", `/event.html?id=${e.id}`));
    // In person: the selection, the list, invitations and notices; check-in at the door.
    // After the event: the interview transcript (访谈实录) from its text feed and Q&A.
    if (["ended", "materials_published"].includes(status)) {
      line.append(" · ", link("访谈实录", `/transcript.html?event=${e.id}`));
    }
    if (IN_PERSON.has(e.form)) {
      line.append(" · ", link("线下活动管理", `/open-day.html?event=${e.id}`), " · ", link("现场签到", `/door.html?event=${e.id}`));
    }
  } else {
    line.append("填写后保存为筹备中的活动（草稿），公告发布前不对外公开时间和安排。");
  }
  $("ev-deadlines").replaceChildren(...(e?.deadlines ?? []).filter((d) => d.state !== "not_applicable").map((d) => deadlineItem(d, true)));
  fillForm(e);

  const editable = !e || EDITABLE.has(status);
  $("ev-fields").disabled = !editable;
  $("ev-save-row").hidden = !editable;
  $("ev-save").textContent = e ? "保存修改" : "保存为草稿";
  $("ev-announce").hidden = !(status === "new" || status === "draft");
  const timeFixed = BEFORE_LIVE.has(status);
  $("ev-start").disabled = timeFixed;
  $("ev-duration").disabled = timeFixed;
  $("ev-start-hint").hidden = !timeFixed;

  $("ev-notice-box").hidden = !(e?.public_selection && (BEFORE_LIVE.has(status) || status === "live"));
  $("ev-notice-state").textContent = e?.selection_notified_at
    ? `已于 ${when(e.selection_notified_at)} 通知入选者。`
    : "尚未记录通知入选者。";

  $("ev-live-box").hidden = !(BEFORE_LIVE.has(status) || status === "live");
  $("ev-start-live").hidden = !BEFORE_LIVE.has(status);
  $("ev-end").hidden = status !== "live";
  $("ev-end-confirm").hidden = true;
  const links = $("ev-links");
  links.replaceChildren();
  if (e && !$("ev-live-box").hidden) {
    links.append(
      link("审核台", `/moderate.html?event=${e.id}`),
      link("大屏（主持人屏幕）", `/present.html?event=${e.id}`),
      link("观众页", `/live.html?event=${e.id}`),
    );
  }

  $("ev-reschedule-box").hidden = !BEFORE_LIVE.has(status);
  $("ev-rs-start").value = localInput(e?.starts_at_local);
  $("ev-rs-duration").value = e?.duration_minutes ?? "";
  $("ev-cancel-box").hidden = !(e && EDITABLE.has(status));
  $("ev-after").hidden = !ENDED.has(status);
}

/** Open the editor on event `id` (null: a new event). */
export async function openEvent(id) {
  let e = null;
  if (id !== null) {
    try {
      e = await api("GET", `/api/events/${id}`);
    } catch (err) {
      say($("page-status"), errorText(err));
      return;
    }
  }
  clearFieldErrors();
  for (const m of ALL_MESSAGES) say($(m), "");
  show(e);
  $("ev-editor").hidden = false;
  $("ev-editor").scrollIntoView({ block: "start" });
  (e ? $("ev-name") : $("ev-code")).focus();
}

// --- the steps -------------------------------------------------------------------

/**
 * Run `step` with `buttons` disabled; show `done` (or the error) in `msg`.
 * `step` resolves with the event as the API answered it.
 */
async function run(msg, buttons, step, done, controls) {
  for (const id of Object.values(controls ?? {})) $(id).removeAttribute("aria-invalid");
  buttons.forEach((b) => (b.disabled = true));
  try {
    const e = await step();
    show(e);
    await state.changed();
    // A step can hide its own box (ending, cancelling): then the outcome
    // shows under the event's status line.
    const slot = $(msg).closest("[hidden]") ? $("ev-step-msg") : $(msg);
    say(slot, typeof done === "function" ? done(e) : done, true);
  } catch (err) {
    say($("ev-step-msg"), "");
    showError(err, $(msg), controls);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

function post(path, payload) {
  return api("POST", `/api/events/${state.event.id}/${path}`, payload);
}

function wire() {
  const saveButtons = [$("ev-save"), $("ev-announce")];
  $("ev-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const created = !state.event;
    run("ev-msg", saveButtons, save, created ? "已保存为草稿（筹备中）。" : "已保存。");
  });
  $("ev-announce").addEventListener("click", () =>
    run(
      "ev-msg",
      saveButtons,
      async () => {
        await save();
        return post("announce");
      },
      "公告已发布，公众可在活动安排和活动页看到。",
    ),
  );
  $("ev-close").addEventListener("click", () => ($("ev-editor").hidden = true));
  $("ev-notice").addEventListener("click", () =>
    run(
      "ev-notice-msg",
      [$("ev-notice")],
      () => post("selection-notice", { notified_at: orNull($("ev-notice-at").value) }),
      "已记录通知入选者。",
      { notified_at: "ev-notice-at" },
    ),
  );
  $("ev-start-live").addEventListener("click", () =>
    run("ev-live-msg", [$("ev-start-live")], () => post("start"), "直播已开始，观众现在可以提问。"),
  );
  confirmBox($("ev-end"), $("ev-end-confirm"), $("ev-end-ok"), $("ev-end-cancel"));
  $("ev-end-ok").addEventListener("click", () =>
    run("ev-live-msg", [$("ev-end-ok"), $("ev-end")], () => post("end"), "直播已结束，互动内容已转为意见建议。"),
  );
  $("ev-reschedule").addEventListener("click", () =>
    run(
      "ev-rs-msg",
      [$("ev-reschedule")],
      () =>
        post("reschedule", {
          starts_at: $("ev-rs-start").value,
          duration_minutes: numberOrNull("ev-rs-duration"),
          reason: text("ev-rs-reason"),
        }),
      (e) => {
        $("ev-rs-reason").value = "";
        return `已调整为 ${when(e.starts_at)}，并已向数据局报备。`;
      },
      { starts_at: "ev-rs-start", duration_minutes: "ev-rs-duration", reason: "ev-rs-reason" },
    ),
  );
  $("ev-cancel").addEventListener("click", () => {
    const announced = BEFORE_LIVE.has(state.event.status);
    run(
      "ev-cancel-msg",
      [$("ev-cancel")],
      () => post("cancel", { reason: text("ev-cancel-reason") }),
      announced ? "活动已取消，并已向数据局报备。" : "活动已取消。",
      { reason: "ev-cancel-reason" },
    );
  });
}

/**
 * Set up the event editor. `changed` reloads the page's lists after a step;
 * `units` are every unit (`GET /api/units`), `me` the signed-in staff.
 */
export async function initEvents(me, units, changed) {
  state.me = me;
  state.units = units;
  state.changed = changed;
  const themes = await api("GET", "/api/themes");
  fillSelects(themes);
  wire();
  $("ev-new").addEventListener("click", () => openEvent(null));
}
