// Check-in at the door (/door.html?event=ID), for the unit's staff on a
// phone: the counts, the list of those who come (chosen, invited, walk-ins:
// status `chosen`; reserves and withdrawals are not shown here), a search,
// check-in by a scanner typing the reference and Enter (or the camera where
// the browser has BarcodeDetector), walk-ins. The list is read again every
// 5 seconds so that two people at two doors see each other's check-ins.

import { $, api, button, el, errorText, idFromUrl, option, say, signInUrl, signedIn, tag } from "./dom.js";
import { PARTICIPANT_KIND, labelOf } from "./labels.js";

const REFRESH_MS = 5000;
const eventId = idFromUrl();

const page = {
  people: [],
  /** One list item per reference, kept between refreshes (focus stays put). */
  items: new Map(),
  groups: new Set(),
  loading: false,
  stopped: false,
  /** Bumped by every change made here: a list read before it is stale. */
  version: 0,
  camera: null,
};

const beijingTime = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
});
const clockOf = (iso) => beijingTime.format(new Date(iso));

// --- the list -----------------------------------------------------------------

async function refresh() {
  if (page.loading || page.stopped) return;
  page.loading = true;
  const version = page.version;
  let stale = false;
  try {
    const all = await api("GET", `/api/events/${eventId}/participants`);
    // A check-in or walk-in made here while the list was on its way: read it again.
    stale = version !== page.version;
    if (!stale) {
      page.people = all.filter((p) => p.status === "chosen");
      for (const p of page.people) addGroup(p.group_name);
      render();
      $("updated").textContent = `名单每 5 秒自动更新，最近更新 ${clockOf(new Date())}`;
      say($("page-status"), "");
    }
  } catch (err) {
    listError(err);
  } finally {
    page.loading = false;
  }
  if (stale) refresh();
}

function listError(err) {
  if (err.status === 401) {
    location.assign(signInUrl());
    return;
  }
  if (err.status === 403 || err.status === 404) {
    page.stopped = true;
    say($("page-status"), err.status === 403 ? "您的账号不能办理这场活动的签到。" : "没有找到这场活动。");
    return;
  }
  say($("page-status"), `名单未能更新（${errorText(err)}），稍后自动重试。`);
}

function render() {
  const due = page.people.filter((p) => p.kind !== "walk_in");
  const arrived = due.filter((p) => p.checked_in_at).length;
  $("count-due").textContent = String(due.length);
  $("count-arrived").textContent = String(arrived);
  $("count-missing").textContent = String(due.length - arrived);
  $("count-walk-ins").textContent = String(page.people.length - due.length);
  $("list-count").textContent = `（${page.people.length} 人）`;

  const list = $("people");
  const wanted = new Set();
  page.people.forEach((p, i) => {
    wanted.add(p.reference);
    let item = page.items.get(p.reference);
    if (!item) {
      item = el("li", "door-person");
      item.dataset.reference = p.reference;
      page.items.set(p.reference, item);
    }
    const signature = [p.name, p.group_name, p.kind, p.organisation, p.checked_in_at].join("|");
    if (item.dataset.signature !== signature) {
      const hadFocus = item.contains(document.activeElement);
      fill(item, p);
      item.dataset.signature = signature;
      if (hadFocus) $("scan").focus();
    }
    if (list.children[i] !== item) list.insertBefore(item, list.children[i] ?? null);
  });
  for (const [reference, item] of page.items) {
    if (!wanted.has(reference)) {
      item.remove();
      page.items.delete(reference);
    }
  }
  filter();
}

function fill(item, p) {
  const who = el("div", "door-who");
  const head = el("p", "door-name");
  head.append(el("strong", null, p.name), " ", tag(labelOf(PARTICIPANT_KIND, p.kind), p.kind));
  const phone = p.phone_masked && p.phone_masked !== "—" ? p.phone_masked : null;
  const meta = el("p", "muted small", [p.group_name, p.organisation, phone].filter(Boolean).join(" · "));
  const ref = el("p", "small");
  ref.append("编号 ", el("code", null, p.reference));
  who.append(head, meta, ref);
  const state = el("div", "door-state");
  if (p.checked_in_at) {
    state.append(tag(`已签到 ${clockOf(p.checked_in_at)}`, "arrived"));
  } else {
    const b = button("签到", () => checkIn(p.reference));
    b.setAttribute("aria-label", `为 ${p.name} 签到`);
    state.append(b);
  }
  item.replaceChildren(who, state);
  item.classList.toggle("arrived", Boolean(p.checked_in_at));
}

/** Show only the people the search names: by name, reference, or the last digits of the number. */
function filter() {
  const q = $("search").value.trim().toLowerCase();
  const digits = /^\d+$/.test(q);
  let shown = 0;
  for (const p of page.people) {
    const phone = (p.phone_masked ?? "").replace(/\D/g, "");
    const match =
      !q || p.name.toLowerCase().includes(q) || p.reference.toLowerCase().includes(q) || (digits && phone.endsWith(q));
    page.items.get(p.reference).hidden = !match;
    if (match) shown += 1;
  }
  $("people-empty").hidden = shown > 0 || page.people.length === 0;
}

// --- check-in -------------------------------------------------------------------

/** A reference from what a scanner or a person typed (or a link ending in one). */
function referenceOf(raw) {
  const last = String(raw).trim().split(/[/#?=]/).pop() ?? "";
  return last.replace(/\s+/g, "").toUpperCase();
}

async function checkIn(raw) {
  const msg = $("scan-msg");
  const reference = referenceOf(raw);
  if (!reference) {
    say(msg, "请扫码或输入报名编号");
    return false;
  }
  try {
    const p = await api("POST", `/api/events/${eventId}/check-in`, { reference });
    say(msg, `✓ ${p.name}（${p.group_name} · ${labelOf(PARTICIPANT_KIND, p.kind)}）签到成功，${clockOf(p.checked_in_at)}`, true);
    page.version += 1;
    const i = page.people.findIndex((x) => x.reference === p.reference);
    if (i >= 0) page.people[i] = p;
    else page.people.push(p);
    render();
    return true;
  } catch (err) {
    const known = page.people.find((x) => x.reference === reference);
    if (err.status === 409) {
      const at = known?.checked_in_at ? `（${clockOf(known.checked_in_at)}）` : "";
      say(msg, `✗ ${known?.name ?? reference} 已经签到过了${at}，请勿重复签到。`);
    } else if (err.status === 404) {
      say(msg, `✗ 编号 ${reference} 不在本场入场名单上（编号有误，或为候补、已撤回人员）。`);
    } else if (err.status === 401) {
      location.assign(signInUrl());
    } else {
      say(msg, `✗ ${errorText(err)}`);
    }
    return false;
  } finally {
    refresh();
  }
}

async function scanned(e) {
  e.preventDefault();
  const input = $("scan");
  const ok = await checkIn(input.value);
  // Ready for the next person: a scanner types straight into the box again.
  if (ok) input.value = "";
  else input.select();
  input.focus();
}

// --- the camera (optional: where the browser has BarcodeDetector) -------------

async function startCamera() {
  const msg = $("scan-msg");
  let detector;
  try {
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  } catch {
    say(msg, "此浏览器不支持摄像头扫码，请使用扫码枪或手动输入编号。");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch {
    say(msg, "无法打开摄像头：请允许浏览器使用摄像头，或使用扫码枪、手动输入编号。");
    return;
  }
  const video = $("camera-video");
  video.srcObject = stream;
  await video.play().catch(() => {});
  $("camera").hidden = false;
  $("camera-start").hidden = true;
  page.camera = { stream, detector, last: "", lastAt: 0 };
  say(msg, "请将签到二维码对准摄像头。", true);
  $("camera-stop").focus();
  scanFrame();
}

async function scanFrame() {
  const camera = page.camera;
  if (!camera) return;
  try {
    const codes = await camera.detector.detect($("camera-video"));
    const value = codes[0]?.rawValue;
    // The same code in front of the camera for a while is one check-in.
    if (value && !(value === camera.last && Date.now() - camera.lastAt < 3000)) {
      camera.last = value;
      camera.lastAt = Date.now();
      await checkIn(value);
    }
  } catch {
    // A frame the detector could not read: try the next one.
  }
  if (page.camera === camera) setTimeout(scanFrame, 250);
}

function stopCamera() {
  page.camera?.stream.getTracks().forEach((t) => t.stop());
  page.camera = null;
  $("camera-video").srcObject = null;
  $("camera").hidden = true;
  $("camera-start").hidden = false;
  $("camera-start").focus();
}

// --- walk-ins -----------------------------------------------------------------

function addGroup(name) {
  if (!name || page.groups.has(name)) return;
  page.groups.add(name);
  $("wi-groups").append(option(name, name));
}

async function walkIn(e) {
  e.preventDefault();
  const msg = $("wi-msg");
  const name = $("wi-name").value.trim();
  const group = $("wi-group").value.trim();
  if (!name) return refuse(msg, "wi-name", "请填写姓名");
  if (!group) return refuse(msg, "wi-group", "请填写群体");
  const submit = $("wi-submit");
  submit.disabled = true;
  try {
    const p = await api("POST", `/api/events/${eventId}/walk-ins`, { name, group });
    $("walk-in-form").reset();
    say(msg, `已登记 ${p.name}（${p.group_name}），编号 ${p.reference}，已签到。`, true);
    page.version += 1;
    page.people.push(p);
    addGroup(p.group_name);
    render();
    $("wi-name").focus();
  } catch (err) {
    const field = err.details?.field;
    if (err.code === "invalid" && field === "name") refuse(msg, "wi-name", "姓名为 1–30 个字");
    else if (err.code === "invalid" && field === "group") refuse(msg, "wi-group", "群体为 1–20 个字");
    else say(msg, errorText(err));
  } finally {
    submit.disabled = false;
    refresh();
  }
}

function refuse(msg, id, text) {
  say(msg, text);
  $(id).focus();
}

// --- start --------------------------------------------------------------------

async function start() {
  // Signed in first: a link without its event still leads through the sign-in.
  const me = await signedIn(["admin", "unit_staff"]);
  if (!me) {
    say($("page-status"), "您的账号不能办理签到：请使用主办单位工作人员或数据局的账号登录。");
    return;
  }
  if (eventId === null) {
    say($("page-status"), "这个链接不完整，没有指明是哪场活动。请从单位工作台的活动管理进入。");
    return;
  }
  $("scan-form").addEventListener("submit", scanned);
  $("search").addEventListener("input", filter);
  $("walk-in-form").addEventListener("submit", walkIn);
  if ("BarcodeDetector" in window && navigator.mediaDevices?.getUserMedia) {
    $("camera-start").hidden = false;
    $("camera-start").addEventListener("click", startCamera);
    $("camera-stop").addEventListener("click", stopCamera);
  }
  try {
    const event = await api("GET", `/api/events/${eventId}`);
    $("event-title").textContent = event.title;
    document.title = `现场签到：${event.title} · 民声`;
    const selection = await api("GET", `/api/events/${eventId}/selection`).catch(() => null);
    for (const g of selection?.groups ?? []) addGroup(g.name);
  } catch (err) {
    listError(err);
    return;
  }
  await refresh();
  $("scan").focus();
  setInterval(() => {
    if (!document.hidden) refresh();
  }, REFRESH_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
}

start();
