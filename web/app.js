// The public programme page. User-supplied text is only ever set with
// textContent, never as HTML.

const STATUS = {
  draft: "筹备中",
  announced: "已发布公告",
  rescheduled: "已调整时间",
  live: "直播中",
  ended: "已结束",
  materials_published: "材料已公开",
  cancelled: "已取消",
};
const FORM = { online: "线上直播", offline: "线下", online_offline: "线上线下结合" };

const timeFormat = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai",
  year: "numeric",
  month: "long",
  day: "numeric",
  weekday: "short",
  hour: "2-digit",
  minute: "2-digit",
});

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function eventItem(event) {
  const item = el("li", "event");
  const title = el("h3", null, event.title);
  const badge = el("span", `badge status-${event.status}`, STATUS[event.status] ?? event.status);
  title.append(" ", badge);
  item.append(title);
  const facts = el("p", "facts");
  const when = event.starts_at ? timeFormat.format(new Date(event.starts_at)) : "时间待公告";
  const minutes = event.duration_minutes ? ` · ${event.duration_minutes} 分钟` : "";
  facts.textContent = `${when}${minutes} · ${FORM[event.form] ?? event.form}`;
  item.append(facts);
  const hosts = event.hosts.map((h) => h.short_name).join("、");
  item.append(el("p", "hosts", `主责单位：${hosts}`));
  if (event.summary) item.append(el("p", "summary", event.summary));
  if (event.participation) item.append(el("p", "participation", `参与方式：${event.participation}`));
  const more = el("p", "event-link");
  const page = el("a", null, event.status === "ended" || event.status === "materials_published" ? "活动详情与答复" : "活动详情");
  page.href = `/event.html?id=${encodeURIComponent(event.id)}`;
  more.append(page);
  item.append(more);
  if (LIVE_LINK[event.status]) item.append(liveLinks(event));
  return item;
}

// The live room opens once an event is announced; the link says what is there now.
const LIVE_LINK = { live: "进入直播互动", announced: "直播互动页", rescheduled: "直播互动页", ended: "查看互动记录" };

function liveLinks(event) {
  const links = el("p", "live-links");
  const link = (text, page, className) => {
    const a = el("a", className, text);
    a.href = `/${page}.html?event=${encodeURIComponent(event.id)}`;
    return a;
  };
  links.append(link(LIVE_LINK[event.status], "live", "live-link"));
  if (event.status === "live") {
    links.append(" · 工作人员：", link("审核台", "moderate"), " · ", link("大屏", "present"));
  }
  return links;
}

async function load() {
  const status = document.getElementById("status");
  try {
    const [eventsRes, themesRes] = await Promise.all([fetch("/api/events"), fetch("/api/themes")]);
    if (!eventsRes.ok || !themesRes.ok) throw new Error(`HTTP ${eventsRes.status}/${themesRes.status}`);
    const [events, themes] = await Promise.all([eventsRes.json(), themesRes.json()]);
    const openDays = document.getElementById("open-days");
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
    const lectures = document.getElementById("lectures");
    events.filter((e) => e.kind === "lecture").forEach((e) => lectures.append(eventItem(e)));
    status.textContent = `共 ${events.length} 场活动`;
  } catch (err) {
    status.textContent = "活动加载失败，请稍后刷新重试。";
    console.error(err);
  }
}

load();
