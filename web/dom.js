// The pages' one helper kit: elements, the JSON API with its error shape,
// Beijing dates and times, sign-in and sign-out, message slots, and the
// pieces the live pages share (connection indicator, poll results). Nothing
// here parses HTML: text a user wrote only ever goes in as textContent or a
// text node. The Chinese labels are in labels.js.

import { API_ERROR, CONNECTION, DEADLINE_KIND, DEADLINE_STATE, FIELD, ROOM_ERROR, labelOf } from "./labels.js";

// --- elements ------------------------------------------------------------------

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

/** A link; `href` is always a path on this site built by the page. */
export function link(text, href, className) {
  const a = el("a", className, text);
  a.href = href;
  return a;
}

/** A labelled control: `<label for>` plus the control, in a wrapper. */
export function field(labelText, control, className = "field") {
  const wrap = el("div", className);
  const caption = el("label", null, labelText);
  if (!control.id) control.id = `f${++fieldCounter}`;
  caption.htmlFor = control.id;
  wrap.append(caption, control);
  return wrap;
}
let fieldCounter = 0;

export function option(value, text) {
  const o = el("option", null, text);
  o.value = value;
  return o;
}

export function button(text, onClick, className) {
  const b = el("button", className, text);
  b.type = "button";
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

/** A state tag: the word always, the colour only as a second cue. */
export function tag(text, kind) {
  return el("span", `tag tag-${kind}`, text);
}

/** A status badge (`badge status-…`) showing `status` in words. */
export function showBadge(node, status, words) {
  node.textContent = words;
  node.className = `badge status-${status}`;
}

/**
 * A text a search found, its matches marked: `segments` are the API's
 * `highlight` of one field (`{text, hit}` pieces that join into the text as
 * shown); each hit goes into a `<mark>`, everything as text nodes.
 */
export function marked(segments, className) {
  const span = el("span", className);
  for (const s of segments) span.append(s.hit ? el("mark", null, s.text) : document.createTextNode(s.text));
  return span;
}

/** `text`, or its marked form when a search found the query in it (`segments` not null). */
export function foundText(text, segments) {
  return segments ? marked(segments) : text;
}

/** Fill a `<dl>` with a term and its value; nothing when there is no value. */
export function fact(dl, term, value) {
  if (value === null || value === undefined || value === "") return;
  dl.append(el("dt", null, term), el("dd", null, value));
}

/** One deadline of an event's plan: kind, state, due date; with `done`, when it was done too. */
export function deadlineItem(d, done = false) {
  const li = el("li");
  li.dataset.kind = d.kind;
  li.append(el("strong", null, labelOf(DEADLINE_KIND, d.kind)), " ", tag(labelOf(DEADLINE_STATE, d.state), d.state));
  if (d.due_date) li.append(el("span", "muted", ` 截止 ${d.due_date}`));
  if (done && d.done_at) li.append(el("span", "muted", `，${when(d.done_at)} 完成`));
  return li;
}

/** Fill a table body from rows of cells (text or nodes). */
export function rows(tbody, data, cells, empty = "暂无") {
  tbody.replaceChildren();
  if (data.length === 0) {
    const tr = el("tr");
    const td = el("td", "muted", empty);
    td.colSpan = tbody.closest("table")?.querySelectorAll("thead th").length || 1;
    tr.append(td);
    tbody.append(tr);
    return;
  }
  for (const item of data) {
    const tr = el("tr");
    for (const [caption, cell] of cells(item)) {
      const td = el("td");
      td.dataset.label = caption;
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell ?? "";
      tr.append(td);
    }
    tbody.append(tr);
  }
}

/**
 * Redraw `box` (`draw` replaces its children) and keep the keyboard where it
 * was: a focused element inside `box` is found again in the new content by
 * its tag and first data attribute (`button[data-upvote="7"]`) and focused.
 * The live lists are redrawn on every frame; without this, a viewer tabbing
 * to a button would lose it whenever anyone upvoted anything.
 */
export function redraw(box, draw) {
  const had = document.activeElement;
  const key = had && had !== box && box.contains(had) ? focusKey(had) : null;
  draw();
  if (key && !box.contains(document.activeElement)) box.querySelector(key)?.focus();
}

function focusKey(node) {
  const [name, value] = Object.entries(node.dataset)[0] ?? [];
  if (!name) return null;
  const attr = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return `${node.tagName.toLowerCase()}[data-${attr}="${CSS.escape(value)}"]`;
}

/**
 * Batch DOM updates: a burst of frames (a replay, a busy room) renders once.
 * A timer rather than requestAnimationFrame, which stops in hidden tabs.
 */
export function scheduler(render) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    setTimeout(() => {
      queued = false;
      render();
    }, 30);
  };
}

/** "60 秒后可重发" on `button` until a new code may be asked for, then "重新获取". */
export function countdown(button, seconds) {
  let left = seconds;
  const tick = () => {
    if (left <= 0) {
      button.disabled = false;
      button.textContent = "重新获取";
      return;
    }
    button.textContent = `${left} 秒后可重发`;
    left -= 1;
    setTimeout(tick, 1000);
  };
  tick();
}

/** A two-step action: `open` shows `box` to confirm with `ok`; `cancel` hides it again. */
export function confirmBox(open, box, ok, cancel) {
  open.addEventListener("click", () => {
    box.hidden = false;
    ok.focus();
  });
  cancel.addEventListener("click", () => {
    box.hidden = true;
    open.focus();
  });
}

// --- messages ------------------------------------------------------------------

/** Show an outcome next to a control: `node` is a `role=status` / `role=alert` element. */
export function say(node, text, ok = false) {
  node.textContent = text;
  node.classList.toggle("msg-ok", ok);
  node.classList.toggle("msg-error", !ok && text !== "");
}

/** A message slot to put beside a control. */
export function messageSlot() {
  const p = el("p", "msg");
  p.setAttribute("role", "status");
  p.setAttribute("aria-live", "polite");
  return p;
}

/** The live pages' banner (`#notice`): an error, or `info`, for six seconds. */
export function notice(text, kind = "error") {
  const box = $("notice");
  box.textContent = text;
  box.className = `notice notice-${kind}`;
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => (box.hidden = true), 6000);
}

/** Run `action`; if it fails, the API's error shows in `msg`. */
export async function attempt(msg, action) {
  try {
    await action();
  } catch (err) {
    say(msg, errorText(err));
  }
}

// --- the JSON API --------------------------------------------------------------

/** An error from the API: `{"error": {"code", "message"}}`, or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    // What the server adds for a program: `{field}` of an invalid value,
    // `{missing: [...]}` of an incomplete announcement.
    this.details = details;
  }
}

/** Call the JSON API. Resolves with the body (null for 204), rejects with ApiError. */
export async function api(method, path, body, headers = {}) {
  const init = { method, headers: { accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "");
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = data?.error;
    // A staff session that ran out (idle, or past its end): sign in again and come back here.
    if (res.status === 401 && e?.code === "session_expired") location.assign(signInUrl());
    throw new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? "", e?.details ?? null);
  }
  return data;
}

/**
 * A Chinese sentence for an API error: its label alone when there is one.
 * For an error without a label, a staff page (one that names the signed-in
 * account in `#who`) adds the server's own words in brackets, for the
 * helpdesk; a public page never shows them.
 */
export function errorText(err) {
  const label = API_ERROR[err?.code];
  let base = label ?? "操作失败，请重试";
  const name = FIELD[err?.details?.field];
  if (name && err.code === "invalid") base = `${name}：${base}`;
  const staffPage = Boolean($("who"));
  return !label && staffPage && err?.message ? `${base}（${err.message}）` : base;
}

/** A Chinese message for an error from the live room (err.code, err.frame). */
export function roomErrorText(err) {
  const base = ROOM_ERROR[err?.code] ?? "操作失败，请重试";
  const wait = err?.frame?.retry_after_ms;
  return wait ? `${base}，请 ${Math.ceil(wait / 1000)} 秒后再试` : base;
}

// --- sign-in -------------------------------------------------------------------

/** The sign-in page, which comes back here once signed in. */
export function signInUrl() {
  return `/login.html?next=${encodeURIComponent(location.pathname + location.search)}`;
}

/** GET /api/auth/me, or (401) off to the sign-in page: then it never resolves. */
export async function whoAmI() {
  try {
    return await api("GET", "/api/auth/me");
  } catch (err) {
    if (err.status === 401) {
      location.replace(signInUrl());
      return new Promise(() => {});
    }
    throw err;
  }
}

/**
 * The signed-in staff member, or a redirect to the sign-in page (401).
 * Resolves with null when the role may not use the page (the page says so).
 */
export async function signedIn(roles) {
  const me = await whoAmI();
  const who = $("who");
  if (who) who.textContent = me.display_name;
  const out = $("logout");
  if (out) {
    out.hidden = false;
    out.addEventListener("click", logout);
  }
  return roles.includes(me.role) ? me : null;
}

/** POST /api/auth/logout (it clears the HttpOnly cookie), then the sign-in page. */
export async function logout() {
  try {
    await api("POST", "/api/auth/logout");
  } catch {
    // Already signed out (401) or offline: the sign-in page is right either way.
  }
  location.assign(signInUrl());
}

// --- the browser's storage ----------------------------------------------------

// 大字版 is kept under "minsheng.large" by large.js: a classic script in
// <head>, since it must set its class before the first paint (a module runs
// too late), and so it cannot import from here.

/** Where the live client keeps this browser's anonymous viewer token (only its asker may rate a reply). */
export const VIEWER_TOKEN_KEY = "minsheng.viewer_token";

/**
 * Where this browser keeps its verified mobile number's token (POST
 * /api/verification): one key for the live room and the sign-up page, so a
 * person verified in one is verified in the other.
 */
export const VERIFICATION_KEY = "minsheng.verification";

/** A value kept in localStorage, or null (none, or no storage in private mode). */
export function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** Keep a value in localStorage (an empty one: forget it). */
export function store(key, value) {
  try {
    if (value) localStorage.setItem(key, value);
    else localStorage.removeItem(key);
  } catch {
    // Private mode without storage: the viewer simply gets a new token next time.
  }
}

// --- dates, times, numbers -----------------------------------------------------

const BEIJING = { timeZone: "Asia/Shanghai" };
const dateTime = new Intl.DateTimeFormat("zh-CN", {
  ...BEIJING,
  year: "numeric",
  month: "long",
  day: "numeric",
  weekday: "short",
  hour: "2-digit",
  minute: "2-digit",
});
const dateTimeNoYear = new Intl.DateTimeFormat("zh-CN", {
  ...BEIJING,
  month: "long",
  day: "numeric",
  weekday: "short",
  hour: "2-digit",
  minute: "2-digit",
});
const timeOnly = new Intl.DateTimeFormat("zh-CN", { ...BEIJING, hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat("en-CA", BEIJING);

/** An instant in Beijing time, in words; `{year: false}` leaves the year out. */
export function when(iso, { year = true } = {}) {
  if (!iso) return "时间待公告";
  return (year ? dateTime : dateTimeNoYear).format(new Date(iso));
}

/** The Beijing time of day (`09:30`) of an instant. */
export function clock(iso) {
  return iso ? timeOnly.format(new Date(iso)) : "";
}

/** The Beijing calendar day (`YYYY-MM-DD`) of an instant. */
export function beijingDay(iso) {
  return dayFormat.format(iso ? new Date(iso) : new Date());
}

/** A percentage from a 0..1 rate, or "—" when there is nothing to divide by. */
export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10}%`;
}

// --- the live pages ------------------------------------------------------------

/** A record id from the page's address (`?event=ID`, `?id=ID`), or null. */
export function idFromUrl(name = "event") {
  const raw = new URLSearchParams(location.search).get(name);
  return raw && /^\d{1,15}$/.test(raw) ? Number(raw) : null;
}

/** Show the connection state in an element with class `conn` (colour by state). */
export function showConnection(node, state) {
  node.textContent = labelOf(CONNECTION, state);
  node.className = `conn conn-${state}`;
}

/** A CSS bar in `row`: the `caption` node, a track filled to `share` %, the `value` node. */
export function bar(row, caption, share, value) {
  const track = el("span", "bar-track");
  const fill = el("span", "bar-fill");
  fill.style.width = `${share}%`;
  track.append(fill);
  row.append(caption, track, value);
  return row;
}

/**
 * A live client's `status` handler: the indicator in `#conn`, and a notice
 * when the room closes for good (`closed` by close code, else a general one).
 */
export function connectionStatus(closed = {}) {
  return (state, detail) => {
    showConnection($("conn"), state);
    if (state === "closed") notice(closed[detail?.code] ?? "连接已关闭，请刷新页面。");
  };
}

/**
 * A poll's results as CSS bars (choices, ratings) or a word list (open
 * text). Bar widths are set through the CSSOM, which the CSP allows.
 */
export function pollResults(poll, tally) {
  const box = el("div", "results");
  if (!tally) {
    box.append(el("p", "muted", poll.status === "open" ? "结果将在投票结束后公布" : "暂无结果"));
    return box;
  }
  box.append(el("p", "voters", `共 ${tally.voters} 人参与`));
  if (poll.kind === "open_text") {
    const words = el("ul", "words");
    const top = Math.max(1, ...tally.words.map((w) => w.count));
    for (const w of tally.words) {
      const size = Math.min(4, Math.ceil((w.count / top) * 4));
      const item = el("li", `word w${size}`, w.text);
      item.title = `${w.count} 人`;
      words.append(item);
    }
    if (tally.words.length === 0) words.append(el("li", "muted", "暂无回答"));
    box.append(words);
    return box;
  }
  const captions = poll.kind === "rating" ? ["1 分", "2 分", "3 分", "4 分", "5 分"] : poll.options;
  const total = tally.counts.reduce((a, b) => a + b, 0);
  const bars = el("ol", "bars");
  captions.forEach((caption, i) => {
    const count = tally.counts[i] ?? 0;
    const share = total ? Math.round((count / total) * 100) : 0;
    const text = `${count} 票 · ${share}%`;
    bars.append(bar(el("li", "bar-row"), el("span", "bar-label", caption), share, el("span", "bar-count", text)));
  });
  box.append(bars);
  if (poll.kind === "rating" && tally.average !== null && tally.average !== undefined) {
    box.append(el("p", "average", `平均 ${tally.average.toFixed(1)} 分`));
  }
  return box;
}
