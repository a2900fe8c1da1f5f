// The data bureau's dashboard (/bureau.html, administrators): every unit's
// events and deadlines on a month calendar, change reports, extension
// requests to grant or refuse, overdue opinions to remind (催办), and the
// yearly performance report as a table and CSS bars. Above them, a warning
// when the working-day calendar lacks this year or, from 1 November, next year.

import { $, api, bar, beijingDay, button, el, errorText, field, link, messageSlot, percent, rows, say, signedIn, tag, when } from "./dom.js";
import { CHANGED_FIELD, CHANGE_KIND, DEADLINE_KIND, DEADLINE_STATE, EVENT_STATUS, labelOf } from "./labels.js";

const DOW = ["一", "二", "三", "四", "五", "六", "日"];
const cal = { year: 0, month: 0, deadlines: [], events: [] };

// --- the month calendar ------------------------------------------------------

function iso(y, m, d) {
  return new Date(Date.UTC(y, m, d)).toISOString().slice(0, 10);
}

function calendarItems() {
  const byDay = new Map();
  const add = (day, item) => {
    if (!byDay.has(day)) byDay.set(day, []);
    byDay.get(day).push(item);
  };
  for (const e of cal.events) {
    if (!e.starts_at || e.status === "cancelled") continue;
    const hosts = e.hosts.map((h) => h.short_name).join("、");
    add(beijingDay(e.starts_at), {
      className: "event-start",
      text: `▶ ${e.title}`,
      title: `活动举行：${e.title}（${hosts}，${labelOf(EVENT_STATUS, e.status)}）`,
    });
  }
  for (const d of cal.deadlines) {
    if (!d.due_date) continue;
    const state = labelOf(DEADLINE_STATE, d.state);
    const hosts = d.hosts.map((h) => h.short_name).join("、");
    add(d.due_date, {
      className: `state-${d.state}`,
      text: `${state}｜${labelOf(DEADLINE_KIND, d.kind)}：${d.event_title}`,
      title: `${labelOf(DEADLINE_KIND, d.kind)}截止：${d.event_title}（${hosts}）— ${state}`,
    });
  }
  return byDay;
}

function renderCalendar() {
  const { year, month } = cal;
  $("cal-month").textContent = `${year}年${month + 1}月`;
  const list = $("calendar");
  list.replaceChildren();
  for (const d of DOW) list.append(el("li", "cal-dow", `周${d}`));
  const items = calendarItems();
  const first = new Date(Date.UTC(year, month, 1));
  const lead = (first.getUTCDay() + 6) % 7; // Monday first
  const days = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const cells = Math.ceil((lead + days) / 7) * 7;
  const today = beijingDay();
  let inMonth = 0;
  for (let i = 0; i < cells; i++) {
    const date = new Date(Date.UTC(year, month, 1 - lead + i));
    const day = iso(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
    const other = date.getUTCMonth() !== month;
    const entries = items.get(day) ?? [];
    const li = el("li", "cal-day");
    if (other) li.classList.add("other");
    if (!entries.length) li.classList.add("empty");
    if (day === today) li.classList.add("today");
    li.dataset.date = day;
    const label = `${date.getUTCMonth() + 1}月${date.getUTCDate()}日 周${DOW[(date.getUTCDay() + 6) % 7]}`;
    li.append(el("div", "cal-date", day === today ? `${label}（今天）` : label));
    if (entries.length) {
      const ul = el("ul", "cal-items");
      for (const it of entries) {
        const item = el("li", `cal-item ${it.className}`, it.text);
        item.title = it.title;
        ul.append(item);
      }
      li.append(ul);
      if (!other) inMonth += entries.length;
    }
    list.append(li);
  }
  const overdue = cal.deadlines.filter((d) => d.state === "overdue").length;
  $("cal-summary").textContent = `本月 ${inMonth} 项；全部单位共有 ${overdue} 项工作时限已逾期。`;
}

function moveMonth(delta) {
  const d = new Date(Date.UTC(cal.year, cal.month + delta, 1));
  cal.year = d.getUTCFullYear();
  cal.month = d.getUTCMonth();
  renderCalendar();
}

function thisMonth() {
  const [y, m] = beijingDay().split("-").map(Number);
  cal.year = y;
  cal.month = m - 1;
}

async function loadCalendar() {
  [cal.deadlines, cal.events] = await Promise.all([api("GET", "/api/deadlines"), api("GET", "/api/events")]);
  renderCalendar();
}

// --- the working-day calendar's years --------------------------------------

/** The calendar file format, shown with the warning: the shipped 2026 notice, abridged (a real one). */
const CALENDAR_EXAMPLE = `year = 2026
source = "国务院办公厅关于2026年部分节假日安排的通知（2025年11月4日）"

[[holidays]]
name = "元旦"
from = "2026-01-01"
to = "2026-01-03"
work = ["2026-01-04"]   # 调休：上班的周末

[[holidays]]
name = "春节"
from = "2026-02-15"
to = "2026-02-23"
work = ["2026-02-14", "2026-02-28"]

# …… 清明节、劳动节、端午节、中秋节、国庆节，同样各写一段`;

/** Fill the banner from `GET /api/calendar/status` when a needed year is missing. */
function calendarWarning(status) {
  const box = $("calendar-warning");
  const missing = status.missing_years;
  if (!missing.length) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const years = missing.map((y) => `${y} 年`).join("、");
  const files = missing.map((y) => `cn-${y}.toml`).join("、");
  const effect = missing.includes(status.this_year)
    ? `今年（${status.this_year} 年）的工作日无法计算：所有工作时限都无法判定，显示为“${DEADLINE_STATE.calendar_missing}”。`
    : `从 11 月 1 日起需要载入下一年的安排：截止日期落在 ${status.next_year} 年的工作时限显示为“${DEADLINE_STATE.calendar_missing}”，无法判定是否按时。`;
  const how = el("p");
  how.append(
    `国务院办公厅发布该年《部分节假日安排的通知》后，请运维人员按通知写成日历文件 `,
    el("code", null, files),
    `（每个假期的放假起止日期，以及调休上班的周末），放入服务的日历目录（启动参数 `,
    el("code", null, "--calendar-dir"),
    `，默认 `,
    el("code", null, "calendar/"),
    `）后重启服务，无需重新编译；也可升级到已收录该年通知的版本。用 `,
    el("code", null, "minsheng calendar check"),
    ` 检查是否已载入。`,
  );
  const format = el("details");
  format.append(el("summary", null, "日历文件格式（示例取自 2026 年通知）"), el("pre", null, CALENDAR_EXAMPLE));
  const readme = el("p", "small");
  readme.append("详细说明见部署说明 ", el("code", null, "README.md"), " 中的“The working-day calendar”一节。");
  const title = el("h2", null, `工作日历缺少 ${years}的节假日安排`);
  title.id = "calendar-warning-title";
  box.replaceChildren(title, el("p", null, effect), how, format, readme);
  box.hidden = false;
}

async function loadCalendarStatus() {
  calendarWarning(await api("GET", "/api/calendar/status"));
}

// --- change reports, extensions, overdue opinions -------------------------

/** The changed fields of an announced event, in Chinese. */
function fields(values) {
  return Object.entries(values ?? {})
    .map(([k, v]) => `${labelOf(CHANGED_FIELD, k)}：${Array.isArray(v) ? v.join("、") : v ?? "（无）"}`)
    .join("；");
}

function schedule(s) {
  if (!s) return "—";
  const parts = [s.starts_at ? when(s.starts_at) : "时间未定"];
  if (s.duration_minutes) parts.push(`${s.duration_minutes} 分钟`);
  if (s.status) parts.push(labelOf(EVENT_STATUS, s.status));
  return parts.join("，");
}

async function loadChanges() {
  const list = await api("GET", "/api/change-reports");
  rows($("changes").tBodies[0], list, (c) => [
    ["活动", link(c.event_title, `/event.html?id=${c.event_id}`)],
    ["类型", labelOf(CHANGE_KIND, c.kind)],
    ["理由", c.reason],
    ["变更前", c.kind === "change" ? fields(c.before) : schedule(c.before)],
    ["变更后", c.kind === "change" ? fields(c.after) : schedule(c.after)],
    ["报备人", c.reporter],
    ["报备时间", when(c.reported_at)],
  ], "暂无变更报备");
}

async function loadExtensions() {
  const list = await api("GET", "/api/extensions");
  const opinions = await Promise.all(
    list.map((x) => api("GET", `/api/opinions/${x.opinion_id}`).catch(() => null)),
  );
  rows($("extensions").tBodies[0], list, (x) => {
    const o = opinions[list.indexOf(x)];
    const note = el("input");
    const msg = messageSlot();
    const decide = (grant) => async () => {
      try {
        await api("POST", `/api/extensions/${x.id}/decision`, { grant, note: note.value.trim() || null });
        say(msg, grant ? "已批准，答复期限已顺延。" : "已不予批准。", true);
        await Promise.all([loadExtensions(), loadOverdue()]);
      } catch (err) {
        say(msg, errorText(err));
      }
    };
    const box = el("div");
    const actions = el("div", "actions");
    actions.append(field("批复意见", note), button("批准", decide(true)), button("不批准", decide(false), "secondary"));
    box.append(actions, msg);
    return [
      ["意见建议", o ? `#${o.id} ${o.text}` : `#${x.opinion_id}`],
      ["单位", o?.unit_name ?? "—"],
      ["当前期限", o?.due_date ?? "—"],
      ["申请延至", x.requested_due],
      ["理由", x.reason],
      ["批复", box],
    ];
  }, "暂无待批复的申请");
}

async function loadOverdue() {
  const overdue = await api("GET", "/api/opinions?overdue=true&limit=1000");
  rows($("overdue").tBodies[0], overdue, (o) => {
    const note = el("input");
    const msg = messageSlot();
    const remind = button("催办", async () => {
      remind.disabled = true;
      try {
        await api("POST", `/api/opinions/${o.id}/reminders`, { note: note.value.trim() || null });
        say(msg, "已催办。", true);
        note.value = "";
        count.textContent = `${++o.reminders} 次`;
      } catch (err) {
        say(msg, errorText(err));
      }
      remind.disabled = false;
    });
    const count = el("span", null, `${o.reminders} 次`);
    const box = el("div");
    const actions = el("div", "actions");
    actions.append(field("催办说明（可选）", note), remind);
    box.append(actions, msg);
    const due = el("span");
    due.append(el("span", null, `${o.due_date ?? "—"} `), tag(DEADLINE_STATE.overdue, "overdue"));
    if (o.extension_pending) due.append(" ", tag("延期待批复", "pending"));
    return [
      ["意见建议", `#${o.id} ${o.text}`],
      ["单位", o.unit_name],
      ["活动", o.event_title],
      ["答复期限", due],
      ["已催办", count],
      ["催办", box],
    ];
  }, "没有逾期未答复的意见");
}

// --- the performance report -------------------------------------------------

const CHARTS = [
  ["reply_rate", "答复率"],
  ["on_time_reply_rate", "按时答复率"],
  ["adoption_rate", "采纳率"],
  ["satisfaction_rate", "满意率"],
];

function duty(d) {
  return d.due ? `${d.met}/${d.due}` : "—";
}

/** The notice to each person on a list: on time of those owed, and the late or missing. */
function notices(n) {
  if (!n.people) return "—";
  const missed = n.late + n.not_notified;
  return missed ? `${n.on_time}/${n.people}（${missed}）` : `${n.on_time}/${n.people}`;
}

function inPerson(p) {
  return p.events ? `${p.applicants}/${p.chosen}/${p.invited}/${p.attended}` : "—";
}

function charts(units) {
  const box = $("charts");
  box.replaceChildren();
  for (const [key, title] of CHARTS) {
    const fig = el("figure", "card");
    const caption = el("figcaption", null, title);
    caption.className = "chart-title";
    const list = el("ol", "chart");
    list.setAttribute("aria-label", title);
    for (const u of units) {
      const share = Math.round((u[key] ?? 0) * 100);
      list.append(bar(el("li"), el("span", null, u.unit_name), share, el("span", "bar-value", percent(u[key]))));
    }
    fig.append(caption, list);
    box.append(fig);
  }
}

async function loadReport() {
  const year = Number($("year").value);
  const msg = $("report-msg");
  $("report-xlsx").href = `/api/reports/performance?year=${year}&format=xlsx`;
  try {
    const report = await api("GET", `/api/reports/performance?year=${year}`);
    rows($("report").tBodies[0], report.units, (u) => [
      ["单位", u.unit_name],
      ["活动 计划/举办/取消", `${u.events_planned}/${u.events_held}/${u.events_cancelled}`],
      ["公告按时", duty(u.announcements)],
      ["材料按时", duty(u.materials)],
      ["变更报备", u.change_reports],
      ["收集", u.opinions_collected],
      ["已答复", u.replies_published],
      ["答复率", percent(u.reply_rate)],
      ["按时答复率", percent(u.on_time_reply_rate)],
      ["采纳率", percent(u.adoption_rate)],
      ["满意率", percent(u.satisfaction_rate)],
      ["答复用时中位数", u.median_reply_working_days ?? "—"],
      ["转办任务/逾期", `${u.handoff_tasks}/${u.handoff_overdue}`],
      ["参加人员通知 按时/应通知（逾期）", notices(u.people_notices)],
      ["线下参与 报名/入选/邀请/到场", inPerson(u.in_person)],
      ["主要负责同志出席/已记录", u.in_person.leader_recorded ? `${u.in_person.leader_attended}/${u.in_person.leader_recorded}` : "—"],
    ], "该年度没有数据");
    for (const tr of $("report").tBodies[0].rows) {
      tr.cells[0].classList.add("nowrap");
      [...tr.cells].slice(1).forEach((td) => td.classList.add("num"));
    }
    charts(report.units);
    say(msg, `${year} 年度，${report.units.length} 个单位。“—”表示没有可计算的数据。`, true);
  } catch (err) {
    say(msg, errorText(err));
  }
}

// --- start -----------------------------------------------------------------

async function start() {
  const status = $("page-status");
  try {
    const me = await signedIn(["admin"]);
    if (!me) {
      say(status, "数据局工作台只供管理员使用；各单位请使用单位工作台。");
      status.append(" ", link("前往单位工作台", "/unit.html"));
      return;
    }
    thisMonth();
    $("cal-prev").addEventListener("click", () => moveMonth(-1));
    $("cal-next").addEventListener("click", () => moveMonth(1));
    $("cal-today").addEventListener("click", () => {
      thisMonth();
      renderCalendar();
    });
    $("year").value = cal.year;
    $("report-form").addEventListener("submit", (e) => {
      e.preventDefault();
      loadReport();
    });
    const parts = [loadCalendarStatus(), loadCalendar(), loadChanges(), loadExtensions(), loadOverdue(), loadReport()];
    const failed = (await Promise.allSettled(parts)).filter((r) => r.status === "rejected");
    if (failed.length) say(status, `部分内容加载失败：${errorText(failed[0].reason)}`);
  } catch (err) {
    say(status, `加载失败：${errorText(err)}`);
  }
}

start();
