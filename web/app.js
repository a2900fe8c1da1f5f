// The public programme page. User-supplied text is only ever set with
// textContent, never as HTML.

import { $, api, el, link, when } from "./dom.js";
import { EVENT_STATUS, FORM, LIVE_LINK, labelOf } from "./labels.js";

function eventItem(event) {
  const item = el("li", "event");
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
  const done = event.status === "ended" || event.status === "materials_published";
  more.append(link(done ? "活动详情与答复" : "活动详情", `/event.html?id=${encodeURIComponent(event.id)}`));
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

async function load() {
  const status = $("status");
  try {
    const [events, themes] = await Promise.all([api("GET", "/api/events"), api("GET", "/api/themes")]);
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
    const lectures = $("lectures");
    events.filter((e) => e.kind === "lecture").forEach((e) => lectures.append(eventItem(e)));
    status.textContent = `共 ${events.length} 场活动`;
  } catch (err) {
    status.textContent = "活动加载失败，请稍后刷新重试。";
    console.error(err);
  }
}

load();
