// Signing up for an open day in person (/signup.html?event=ID): the
// selection announcement (遴选公告) with its groups and counts; while sign-ups
// are open, a verified mobile number and then the form; the reference kept in
// this browser with a way to withdraw; after the draw, the published result
// (公示) with the seed and how anyone re-runs it, this browser's own
// reference marked. No sign-in; text from the API only ever goes in as text.

import { $, api, confirmBox, el, errorText, fact, idFromUrl, option, rows, say, store, stored, tag, when } from "./dom.js";
import { PARTICIPANT_STATUS, SELECTION_METHOD, labelOf } from "./labels.js";
import { forgetVerification, storedVerification, wireVerification } from "./verify.js";

const eventId = idFromUrl();
/** This browser's reference for this event (one sign-up per number and event). */
const MINE_KEY = `minsheng.signup.${eventId}`;

const page = {
  event: null,
  selection: null,
  /** What to do once the number is verified: show the form, or withdraw. */
  pending: null,
  /** A withdrawal refused (404) is tried once more after verifying again. */
  withdrawRetried: false,
};

// --- loading -------------------------------------------------------------------

async function load() {
  const status = $("load-status");
  if (eventId === null) {
    status.textContent = "这个链接不完整，找不到对应的活动。请从活动页面的“报名参加”进入。";
    return;
  }
  try {
    const [event, selection] = await Promise.all([
      api("GET", `/api/events/${eventId}`),
      api("GET", `/api/events/${eventId}/selection`).catch((err) => {
        if (err.status === 404) return null;
        throw err;
      }),
    ]);
    page.event = event;
    page.selection = selection;
    showEvent(event);
    if (!selection) {
      status.textContent = "本活动没有发布现场参加的公开遴选公告。";
      return;
    }
    status.textContent = "";
    render();
  } catch (err) {
    status.textContent = err.status === 404 ? "没有找到这场活动。" : `加载失败：${errorText(err)}`;
  }
}

/** Reload the announcement (counts, result) after a sign-up or a withdrawal. */
async function reload() {
  try {
    page.selection = await api("GET", `/api/events/${eventId}/selection`);
    render();
  } catch (err) {
    say($("load-status"), `刷新失败：${errorText(err)}`);
  }
}

function showEvent(event) {
  document.title = `现场报名：${event.title} · 民声`;
  $("title").textContent = event.title;
  const parts = [when(event.starts_at)];
  if (event.venue) parts.push(event.venue);
  $("when").textContent = parts.join(" · ");
  $("event-link").href = `/event.html?id=${event.id}`;
}

// --- the announcement ---------------------------------------------------------

/** Where sign-ups stand: `open`, `soon`, `closed` (awaiting the result) or `result`. */
function phase(s) {
  if (s.result) return "result";
  if (s.open) return "open";
  if (!s.closed_at && new Date(s.opens_at) > new Date()) return "soon";
  return "closed";
}

function render() {
  const s = page.selection;
  $("selection-text").textContent = s.text;
  const dl = $("selection-facts");
  dl.replaceChildren();
  fact(dl, "现场名额", `${s.places} 人`);
  fact(dl, "报名时间（北京时间）", `${when(s.opens_at)} 至 ${when(s.closes_at)}`);
  fact(dl, "结果告知", `${s.reply_by} 前短信告知入选和候补人员，并在本页公示`);
  fact(dl, "已报名", `${s.applicants} 人`);
  const drawn = Boolean(s.result);
  rows($("groups").tBodies[0], s.groups_now, (g) => [
    ["群体", g.group],
    ["比例", `${g.share}%`],
    ["已报名", `${g.applied} 人`],
    ["入选", drawn ? `${g.chosen} 人` : "—"],
  ]);
  $("announce").hidden = false;

  const now = phase(s);
  const mine = stored(MINE_KEY);
  const state = $("state-text");
  if (now === "soon") state.textContent = `报名将于 ${when(s.opens_at)} 开始，请届时再来。`;
  else if (now === "closed") state.textContent = `报名已截止，遴选结果将于 ${s.reply_by} 前在本页公示。`;
  else if (now === "result") state.textContent = "遴选已完成，结果公示如下。";
  else if (mine) state.textContent = "报名进行中。您已在本浏览器报名，见上方“我的报名”。";
  else state.textContent = `报名进行中，截止时间 ${when(s.closes_at)}。`;
  $("state-box").hidden = false;

  showMine(mine);
  showForm(now === "open" && !mine);
  showResult(s, mine);
}

// --- the form -----------------------------------------------------------------

function showForm(on) {
  const box = $("signup-box");
  if (!on && !page.pending) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const withdrawing = Boolean(page.pending) && !on;
  $("form-title").textContent = withdrawing ? "验证手机号后撤回报名" : "报名";
  const verified = Boolean(storedVerification());
  $("verify-form").hidden = verified;
  $("verified-line").hidden = !verified || withdrawing;
  $("signup-form").hidden = !verified || withdrawing;
  askFields(page.selection.fields);
  const select = $("su-group");
  if (select.options.length <= 1) {
    for (const g of page.selection.groups) select.append(option(g.name, g.name));
  }
}

/** The optional fields as this announcement asks for them: hidden, optional or required. */
function askFields(fields = {}) {
  const ask = (name, caption, extra = "") => {
    const rule = fields[name] ?? "optional";
    $(`su-${name}-field`).hidden = rule === "hidden";
    $(`su-${name}`).required = rule === "required";
    $(`su-${name}-label`).textContent = `${caption}（${rule === "required" ? "必填" : "选填"}${extra}）`;
  };
  ask("street", "所在街道/镇");
  ask("reason", "申请理由", "，最多 300 字");
}

/** Ask for the number first: `why` says so, `then` runs once it is verified. */
function needVerification(why, then) {
  forgetVerification();
  page.pending = then;
  showForm(phase(page.selection) === "open" && !stored(MINE_KEY));
  $("signup-box").hidden = false;
  $("verify-form").hidden = false;
  $("verified-line").hidden = true;
  say($("verify-status"), why);
  $("verify-phone").focus();
  $("signup-box").scrollIntoView({ block: "start" });
}

function verified() {
  const then = page.pending;
  page.pending = null;
  showForm(phase(page.selection) === "open" && !stored(MINE_KEY));
  if (then) then();
  else $("su-name").focus();
}

/** Each field the API may refuse, with what to tell the person. */
const FIELD_HINT = {
  name: ["su-name", "请填写姓名（1–30 个字）"],
  group: ["su-group", "请选择公告中的一个群体"],
  street: ["su-street", "街道/镇最多 40 个字"],
  reason: ["su-reason", "申请理由最多 300 字"],
};

async function submit(e) {
  e?.preventDefault();
  const form = $("signup-form");
  const msg = $("signup-msg");
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const token = storedVerification();
  if (!token) return needVerification("请先验证手机号。", () => submit());
  const body = {
    verification: token,
    name: $("su-name").value.trim(),
    group: $("su-group").value,
    street: $("su-street").value.trim() || null,
    reason: $("su-reason").value.trim() || null,
  };
  if (!body.name) return refuse("name");
  if (!body.group) return refuse("group");
  const rules = page.selection.fields ?? {};
  for (const name of ["street", "reason"]) {
    if (rules[name] === "hidden") body[name] = null;
    else if (rules[name] === "required" && !body[name]) return refuse(name, "本次报名需要填写此项");
  }
  const button = $("su-submit");
  button.disabled = true;
  say(msg, "");
  try {
    const done = await api("POST", `/api/events/${eventId}/signups`, body);
    store(MINE_KEY, done.reference);
    form.reset();
    await reload();
    say($("mine-msg"), `报名成功！您的报名编号是 ${done.reference}，请截图或抄下保存。`, true);
    $("mine-title").focus();
  } catch (err) {
    signUpError(err);
  } finally {
    button.disabled = false;
  }
}

function refuse(field, text) {
  const [id, hint] = FIELD_HINT[field];
  const input = $(id);
  input.setAttribute("aria-invalid", "true");
  input.focus();
  say($("signup-msg"), text ?? hint);
}

function signUpError(err) {
  const msg = $("signup-msg");
  switch (err.code) {
    case "verification_required":
      needVerification("手机号验证已失效，请重新验证；已填写的内容会保留。", () => submit());
      return;
    case "already_signed_up":
      say(msg, "这个手机号已经报过名了（撤回后也不能再报），每个手机号只能报名一次。如需查看或撤回，请在报名时使用的浏览器中打开本页。");
      return;
    case "signup_closed":
      say(msg, "报名未开始或已截止，未能提交。");
      reload();
      return;
    case "not_found":
      say(msg, "本活动的遴选公告已不再公开，未能提交。");
      return;
    case "invalid":
    case "invalid_input":
      if (FIELD_HINT[err.details?.field]) return refuse(err.details.field);
      say(msg, errorText(err));
      return;
    default:
      say(msg, errorText(err));
  }
}

// --- my sign-up -----------------------------------------------------------------

/** Where this browser's reference stands in the published result, in words. */
function mineStatus(reference) {
  const result = page.selection.result;
  if (!result) return { text: `${PARTICIPANT_STATUS.applied}：结果将于 ${page.selection.reply_by} 前短信告知并在本页公示。`, listed: true };
  if (result.chosen.some((p) => p.reference === reference)) {
    return { text: `${PARTICIPANT_STATUS.chosen}：请留意短信通知（含时间、地点和签到码）。`, listed: true, kind: "chosen" };
  }
  const place = result.reserves.findIndex((p) => p.reference === reference);
  if (place >= 0) {
    return { text: `${PARTICIPANT_STATUS.reserve}第 ${place + 1} 位：如有入选者撤回，将依次递补并短信告知。`, listed: true, kind: "reserve" };
  }
  return { text: "不在公示名单中（可能已撤回）。", listed: false };
}

function showMine(reference) {
  const box = $("mine");
  box.hidden = !reference;
  if (!reference) return;
  $("mine-keep").hidden = false;
  $("mine-reference").textContent = reference;
  const status = mineStatus(reference);
  $("mine-status").textContent = status.text;
  $("withdraw").hidden = !status.listed;
  if (!status.listed) $("withdraw-confirm").hidden = true;
}

async function withdraw() {
  const reference = stored(MINE_KEY);
  const msg = $("mine-msg");
  if (!reference) return;
  const token = storedVerification();
  if (!token) return needVerification("撤回报名需先验证报名时使用的手机号。", withdrawAfterVerifying);
  $("withdraw-ok").disabled = true;
  try {
    const done = await api("POST", `/api/signups/${encodeURIComponent(reference)}/withdraw`, { verification: token });
    store(MINE_KEY, "");
    $("withdraw-confirm").hidden = true;
    await reload();
    $("mine").hidden = false;
    $("mine-reference").textContent = reference;
    $("mine-keep").hidden = true;
    $("mine-status").textContent = PARTICIPANT_STATUS.withdrawn;
    $("withdraw").hidden = true;
    say(msg, done.moved_up ? "已撤回报名，您的名额已递补给候补人员。" : "已撤回报名。", true);
  } catch (err) {
    // The server answers 404 both for an unknown reference and for a number
    // that did not sign it up (or a verification that ran out): verify once more.
    if (err.status === 404 && !page.withdrawRetried) {
      page.withdrawRetried = true;
      needVerification("请验证报名时使用的手机号后再撤回。", withdrawAfterVerifying);
    } else if (err.status === 404) {
      say(msg, "未能撤回：这个报名编号不是用刚才验证的手机号报名的，或已经撤回。");
    } else {
      say(msg, errorText(err));
    }
  } finally {
    $("withdraw-ok").disabled = false;
  }
}

function withdrawAfterVerifying() {
  render();
  $("withdraw-confirm").hidden = false;
  $("withdraw-ok").focus();
  say($("mine-msg"), "手机号已验证，请确认撤回。", true);
  $("mine").scrollIntoView({ block: "start" });
}

// --- the result ---------------------------------------------------------------

function showResult(s, mine) {
  const result = s.result;
  $("result").hidden = !result;
  if (!result) return;
  const method = result.method ?? s.method ?? (result.seed ? "draw" : "manual");
  const at = s.drawn_at ? `，${when(s.drawn_at)} 确定` : "";
  $("result-method").textContent =
    method === "draw"
      ? `遴选方式：${labelOf(SELECTION_METHOD, method)}（按群体比例分层抽取）${at}。`
      : `遴选方式：${labelOf(SELECTION_METHOD, method)}，由承办单位按公告条件确定入选和候补人员${at}。`;
  const seeded = method === "draw" && Boolean(result.seed);
  $("result-seed").hidden = !seeded;
  $("result-rerun").hidden = !seeded;
  if (seeded) {
    $("seed").textContent = result.seed;
    $("result-rerun").textContent =
      "任何人都可以复核：对每位报名者计算 SHA-256(“种子:报名编号”) 的十六进制值，各群体内由小到大排序，按比例分得的名额依次入选，" +
      "某群体报名不足的名额由其余报名者按同一排序递补，其余人员按同一排序为候补（入选者撤回后由候补依次递补）。";
  }
  $("chosen-count").textContent = `（${result.chosen.length} 人）`;
  $("reserves-count").textContent = `（${result.reserves.length} 人）`;
  listPeople($("chosen"), result.chosen, mine, false);
  listPeople($("reserves"), result.reserves, mine, true);
}

function listPeople(table, people, mine, ordered) {
  const tbody = table.tBodies[0];
  rows(
    tbody,
    people,
    (p) => {
      const cells = [
        ["报名编号", referenceCell(p.reference, mine)],
        ["姓名", p.name],
        ["手机号", p.phone],
        ["群体", p.group],
      ];
      if (ordered) cells.unshift(["顺序", String(people.indexOf(p) + 1)]);
      return cells;
    },
    ordered ? "无候补人员" : "暂无",
  );
  // rows() builds one row per person, in order: mark this browser's own.
  people.forEach((p, i) => {
    const tr = tbody.rows[i];
    tr.dataset.reference = p.reference;
    if (p.reference === mine) tr.classList.add("mine-row");
  });
}

function referenceCell(reference, mine) {
  const span = el("span", "ref-cell");
  span.append(el("code", null, reference));
  if (reference === mine) span.append(" ", tag("我的报名", "mine"));
  return span;
}

// --- wiring -------------------------------------------------------------------

wireVerification({
  form: $("verify-form"),
  phone: $("verify-phone"),
  code: $("verify-code"),
  send: $("verify-send"),
  status: $("verify-status"),
  onVerified: verified,
});
$("signup-form").addEventListener("submit", submit);
$("signup-form").addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
$("other-number").addEventListener("click", () => {
  forgetVerification();
  showForm(true);
  $("verify-phone").focus();
});
confirmBox($("withdraw"), $("withdraw-confirm"), $("withdraw-ok"), $("withdraw-cancel"));
$("withdraw-ok").addEventListener("click", withdraw);
$("mine-title").tabIndex = -1;
load();
