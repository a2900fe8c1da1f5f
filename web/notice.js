// A person's notice page (/notice.html#TOKEN), the link in their text
// message: the event's time and place, what to bring, their place on the
// list, whether they have checked in, and the check-in code — and, after the
// event, a form for a written suggestion. The token stays in the address's
// fragment, which browsers never send to a server (nor to its logs).

import { $, api, errorText, fact, say, when } from "./dom.js";
import { PARTICIPANT_STATUS, labelOf } from "./labels.js";

const SUGGESTION_MAX = 2000;
const DEFAULT_BRING = "请携带本人身份证件，凭签到码或报名编号签到入场。";

/** The token in `#…` (64 hexadecimal characters), or null. */
function tokenFromHash() {
  const raw = location.hash.slice(1).trim().toLowerCase();
  return /^[0-9a-f]{64}$/.test(raw) ? raw : null;
}

const token = tokenFromHash();

async function load() {
  const status = $("load-status");
  if (!token) {
    status.textContent = "链接不完整：请从短信中的链接完整打开本页。";
    return;
  }
  try {
    const view = await api("GET", `/api/notices/${token}`);
    show(view);
    status.textContent = "";
  } catch (err) {
    status.textContent = err.status === 404 ? "通知链接无效或已失效，请核对短信中的链接。" : `加载失败：${errorText(err)}`;
  }
}

function show(v) {
  document.title = `参加通知：${v.event_title} · 民声`;
  $("event-title").textContent = v.event_title;
  const cancelled = Boolean(v.cancelled) || v.event_status === "cancelled";
  const banner = $("cancelled");
  banner.hidden = !cancelled;
  banner.textContent = cancelled ? "活动已取消：请不要前往现场。" : "";
  showPass(v, cancelled);

  const dl = $("facts");
  dl.replaceChildren();
  fact(dl, "活动", v.event_title);
  fact(dl, "时间（北京时间）", when(v.starts_at_local));
  fact(dl, "地点", v.venue);
  fact(dl, "姓名", v.name);
  fact(dl, "报名编号", v.reference);
  // Chosen and invited people alike are `chosen`: on the list of those who come.
  fact(dl, "名单状态", v.status === "chosen" ? "已列入参加名单" : labelOf(PARTICIPANT_STATUS, v.status));
  fact(dl, "签到", v.checked_in ? "已签到" : "未签到");
  $("bring").textContent = v.bring || DEFAULT_BRING;
  const link = $("event-link");
  link.hidden = !v.event_id;
  if (v.event_id) link.href = `/event.html?id=${v.event_id}`;
  $("details").hidden = false;

  showSuggestion(v);
}

/** The check-in code: only for a person on the list of an event that takes place. */
function showPass(v, cancelled) {
  const onList = v.status === "chosen";
  $("pass").hidden = cancelled;
  const state = $("check-state");
  state.textContent = v.checked_in ? "已签到" : "未签到";
  state.className = `check-state ${v.checked_in ? "checked" : "unchecked"}`;
  $("reference").textContent = v.reference;
  const qr = $("qr");
  const svg = typeof v.check_in_qr_svg === "string" && v.check_in_qr_svg.includes("<svg") ? v.check_in_qr_svg : null;
  qr.hidden = !onList || !svg;
  // Our own server's SVG, as an image (scripts in an <img> never run): no markup is parsed into the page.
  if (onList && svg) qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  else qr.removeAttribute("src");
  let note = "";
  if (!onList) note = `您目前的状态是“${labelOf(PARTICIPANT_STATUS, v.status)}”，签到码暂不可用；如有变化将另行短信通知。`;
  else if (v.checked_in) note = "您已签到，欢迎参加。";
  else note = "到达现场后，请向工作人员出示二维码或报名编号。";
  $("pass-note").textContent = note;
}

function showSuggestion(v) {
  const box = $("suggest");
  box.hidden = !v.suggestions_open;
  if (!v.suggestions_open) return;
  $("suggest-until").textContent = v.suggestion_until
    ? `征集截止日期：${v.suggestion_until}（活动后 5 个工作日内）。承办单位将办理并公开答复。`
    : "承办单位将办理并公开答复。";
}

function updateCount() {
  $("suggest-count").textContent = `${[...$("suggest-text").value].length} / ${SUGGESTION_MAX}`;
}

async function suggest(e) {
  e.preventDefault();
  const text = $("suggest-text").value.trim();
  const msg = $("suggest-msg");
  if (!text) {
    say(msg, "请填写意见建议");
    $("suggest-text").focus();
    return;
  }
  if ([...text].length > SUGGESTION_MAX) return say(msg, `意见建议最多 ${SUGGESTION_MAX} 字`);
  const button = $("suggest-submit");
  button.disabled = true;
  try {
    const done = await api("POST", `/api/notices/${token}/suggestion`, { text });
    $("suggest-text").value = "";
    updateCount();
    say(msg, `已收到您的意见建议（编号 ${done.opinion_id}），承办单位将办理并公开答复，感谢参与。`, true);
  } catch (err) {
    if (err.code === "wrong_status") say(msg, "现在不在意见建议征集时间内（活动开始后至活动后 5 个工作日）。");
    else if (err.code === "invalid" || err.code === "invalid_input") say(msg, `请填写 1–${SUGGESTION_MAX} 字的意见建议`);
    else if (err.code === "rate_limited") say(msg, "您提交的意见建议已达上限，承办单位会办理已提交的内容。");
    else if (err.status === 404) say(msg, "通知链接无效或已失效。");
    else say(msg, errorText(err));
  } finally {
    button.disabled = false;
  }
}

$("refresh").addEventListener("click", async () => {
  const button = $("refresh");
  button.disabled = true;
  await load();
  button.disabled = false;
  button.focus();
});
$("suggest-form").addEventListener("submit", suggest);
$("suggest-text").addEventListener("input", updateCount);
window.addEventListener("hashchange", () => location.reload());
load();
