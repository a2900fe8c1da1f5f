// The public programme page: at the top what is on now (正在直播) or, when
// nothing is, the next event within a week (即将开始); then the events to
// come, by theme; then past events, searchable by title. User-supplied text
// is only ever set with textContent, never as HTML.

import { $, api, el, link, when } from "./dom.js";
import { EVENT_STATUS, FORM, LIVE_LINK, labelOf } from "./labels.js";

/** How far ahead the banner looks for the next event when none is live. */
const SOON_MS = 7 * 24 * 3600 * 1000;
const PAST = new Set(["ended", "materials_published"]);
const UPCOMING = new Set(["announced", "rescheduled"]);

const eventPage = (event) => `/event.html?id=${encodeURIComponent(event.id)}`;
const livePage = (event) => `/live.html?event=${encodeURIComponent(event.id)}`;

/** Whether an event is over: ended, or cancelled with its time gone by. */
function isPast(event, now) {
  if (PAST.has(event.status)) return true;
  return event.status === "cancelled" && event.starts_at !== null && Date.parse(event.starts_at) < now;
}

function eventItem(event) {
  const item = el("li", "event");
  item.dataset.id = event.id;
  const title = el("h3", null, event.title);
  const badge = el("span", `badge status-${event.status}`, labelOf(EVENT_STATUS, event.status));
  title.append(" ", badge);
  item.append(title);
  const facts = el("p", "facts");
  const minutes = event.duration_minutes ? ` · ${event.duration_minutes} 分钟` : "";
  facts.textContent = `${when(event.starts_at)}${minutes} · ${labelOf(FORM, event.form)}`;
  item.append(facts);
  const hosts = event.hosts.map((h) => h.short_name).join("、");
  item.append(el("p", "hosts", `主责单位：${hosts}`));
  if (event.summary) item.append(el("p", "summary", event.summary));
  if (event.participation) item.append(el("p", "participation", `参与方式：${event.participation}`));
  const more = el("p", "event-link");
  more.append(link(PAST.has(event.status) ? "活动详情与答复" : "活动详情", eventPage(event)));
  item.append(more);
  if (LIVE_LINK[event.status]) item.append(liveLinks(event));
  return item;
}

// The live room opens once an event is announced; the link says what is there now.
function liveLinks(event) {
  const links = el("p", "live-links");
  const to = (text, page, className) => link(text, `/${page}.html?event=${encodeURIComponent(event.id)}`, className);
  links.append(to(LIVE_LINK[event.status], "live", "live-link"));
  if (event.status === "live") {
    links.append(" · 工作人员：", to("审核台", "moderate"), " · ", to("大屏", "present"));
  }
  return links;
}

/** The banner: every live event, else the next one starting within a week; hidden when neither. */
function banner(events, now) {
  const live = events.filter((e) => e.status === "live");
  const soon = events
    .filter((e) => UPCOMING.has(e.status) && e.starts_at)
    .filter((e) => Date.parse(e.starts_at) > now && Date.parse(e.starts_at) - now <= SOON_MS)
    .sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at))
    .slice(0, 1);
  const shown = live.length > 0 ? live : soon;
  if (shown.length === 0) return;
  $("now-title").textContent = live.length > 0 ? "正在直播" : "即将开始";
  const list = $("now-list");
  for (const event of shown) {
    const item = el("li", "now-item");
    item.dataset.id = event.id;
    item.append(el("strong", "now-event", event.title));
    const started = live.length > 0 ? "开始于 " : "北京时间 ";
    item.append(el("span", "now-time", `${started}${when(event.starts_at, { year: false })}`));
    const go = el("p", "now-links");
    go.append(link(live.length > 0 ? "进入直播互动" : "直播互动页", livePage(event), "now-live"));
    go.append(" · ", link("活动详情", eventPage(event)));
    item.append(go);
    list.append(item);
  }
  $("now").hidden = false;
}

/** The events to come, open days by theme and lectures; "暂无" where there are none. */
function upcoming(events, themes) {
  const openDays = $("open-days");
  for (const theme of themes) {
    const list = events.filter((e) => e.kind === "open_day" && e.theme?.id === theme.id);
    if (list.length === 0) continue;
    const group = el("section", "theme");
    group.append(el("h3", "theme-title", theme.name));
    const ul = el("ul", "events");
    list.forEach((e) => ul.append(eventItem(e)));
    group.append(ul);
    openDays.append(group);
  }
  if (openDays.childElementCount === 0) openDays.append(el("p", "muted", "暂无即将举行的政务开放日"));
  const lectures = $("lectures");
  events.filter((e) => e.kind === "lecture").forEach((e) => lectures.append(eventItem(e)));
  if (lectures.childElementCount === 0) lectures.append(el("li", "muted", "暂无即将举行的政策公开讲"));
}

/** Past events, latest first, with the title search filtering them as one types. */
function past(events) {
  const list = $("past");
  const sorted = [...events].sort((a, b) => Date.parse(b.starts_at ?? 0) - Date.parse(a.starts_at ?? 0));
  sorted.forEach((e) => list.append(eventItem(e)));
  const said = $("past-status");
  const filter = () => {
    const query = $("past-search").value.trim().toLowerCase();
    let shown = 0;
    for (const item of list.children) {
      const event = sorted.find((e) => String(e.id) === item.dataset.id);
      const hit = !query || event.title.toLowerCase().includes(query);
      item.hidden = !hit;
      if (hit) shown += 1;
    }
    if (sorted.length === 0) said.textContent = "暂无往期活动";
    else if (!query) said.textContent = `共 ${sorted.length} 场往期活动`;
    else said.textContent = shown ? `标题含“${query}”的活动 ${shown} 场` : `没有标题含“${query}”的往期活动`;
  };
  $("past-search").addEventListener("input", filter);
  filter();
}

async function load() {
  const status = $("status");
  try {
    const [events, themes] = await Promise.all([api("GET", "/api/events"), api("GET", "/api/themes")]);
    const now = Date.now();
    banner(events, now);
    upcoming(events.filter((e) => !isPast(e, now)), themes);
    past(events.filter((e) => isPast(e, now)));
    status.textContent = `共 ${events.length} 场活动`;
  } catch (err) {
    status.textContent = "活动加载失败，请稍后刷新重试。";
    console.error(err);
  }
}

load();
