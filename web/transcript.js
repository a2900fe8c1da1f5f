// 访谈实录: the unit's editor of an ended event's transcript. It starts from
// the assembly of the text feed and the published questions with their live
// answers (GET answers one until it is saved); the unit edits the entries,
// saves (PUT), publishes (POST …/publish), prints or downloads a Word file.

import { $, api, button, el, errorText, field, idFromUrl, option, say, signedIn, signInUrl, when } from "./dom.js";

const KINDS = { update: "图文直播", question: "网友提问", answer: "现场答复", note: "实录说明" };
const eventId = idFromUrl("event");
const page = { view: null, dirty: false };

function entryItem(entry, index) {
  const li = el("li", "transcript-entry");
  const kind = el("select");
  for (const [value, text] of Object.entries(KINDS)) kind.append(option(value, text));
  kind.value = entry.kind;
  const speaker = el("input");
  speaker.maxLength = 40;
  speaker.value = entry.speaker ?? "";
  const text = el("textarea");
  text.rows = Math.min(8, Math.max(2, Math.ceil(entry.text.length / 40)));
  text.maxLength = 5000;
  text.value = entry.text;
  for (const input of [kind, speaker, text]) input.addEventListener("input", () => (page.dirty = true));
  const remove = button("删除此段", () => {
    page.view.entries = edited();
    page.view.entries.splice(index, 1);
    page.dirty = true;
    render();
  }, "secondary");
  li.dataset.at = entry.at;
  li.append(
    el("p", "muted", when(entry.at)),
    field("类型", kind),
    field("发言人", speaker),
    field("内容", text),
    remove,
  );
  return li;
}

/** The entries as the editor shows them now. */
function edited() {
  return [...$("entries").children].map((li) => {
    const [kind, speaker, text] = li.querySelectorAll("select, input, textarea");
    return { at: li.dataset.at, kind: kind.value, speaker: speaker.value.trim(), text: text.value.trim() };
  });
}

function render() {
  const v = page.view;
  $("title").textContent = `访谈实录：${v.title}`;
  const state = v.published_at
    ? `已于 ${when(v.published_at)} 发布；修改保存后公众即看到新版本。`
    : v.saved
      ? `草稿，最近保存于 ${when(v.updated_at)}，尚未发布。`
      : "尚未保存：以下是根据图文直播和已公开问答自动生成的初稿。";
  $("state-text").textContent = state;
  $("publish").hidden = Boolean(v.published_at);
  $("publish").disabled = !v.saved;
  $("print").href = `/api/events/${eventId}/transcript?format=html`;
  $("docx").href = `/api/events/${eventId}/transcript?format=docx`;
  $("entries").replaceChildren(...v.entries.map(entryItem));
  $("state-box").hidden = false;
  $("entries-box").hidden = false;
}

async function load() {
  page.view = await api("GET", `/api/events/${eventId}/transcript`);
  page.dirty = false;
  render();
}

function confirmThen(text, action) {
  $("confirm-text").textContent = text;
  $("confirm-box").hidden = false;
  $("confirm-yes").onclick = async () => {
    $("confirm-box").hidden = true;
    await action();
  };
  $("confirm-no").onclick = () => ($("confirm-box").hidden = true);
  $("confirm-yes").focus();
}

async function run(action, done) {
  const msg = $("save-msg");
  try {
    page.view = await action();
    page.dirty = false;
    render();
    say(msg, done, true);
  } catch (err) {
    say(msg, errorText(err));
  }
}

async function save() {
  const entries = edited();
  if (entries.some((e) => !e.text)) return say($("save-msg"), "每一段都要有内容；不需要的段落请删除。");
  await run(() => api("PUT", `/api/events/${eventId}/transcript`, { entries }), "已保存");
}

async function start() {
  const status = $("page-status");
  if (!eventId) return say(status, "链接缺少活动。请从单位工作台打开。");
  try {
    const me = await signedIn(["admin", "unit_staff"]);
    if (!me) return say(status, "访谈实录由主办单位工作人员整理。");
    await load();
  } catch (err) {
    if (err.status === 401) return location.assign(signInUrl());
    return say(status, errorText(err));
  }
  $("save").addEventListener("click", save);
  $("publish").addEventListener("click", () =>
    confirmThen("发布后公众即可查看和下载本实录。确定发布？", async () => {
      if (page.dirty) await save();
      await run(() => api("POST", `/api/events/${eventId}/transcript/publish`), "已发布");
    }),
  );
  $("assemble").addEventListener("click", () =>
    confirmThen("重新生成会替换已保存的内容（修改将丢失）。确定？", () =>
      run(() => api("POST", `/api/events/${eventId}/transcript/assemble`, { replace: true }), "已重新生成并保存"),
    ),
  );
  $("add-note").addEventListener("click", () => {
    page.view.entries = edited();
    const last = page.view.entries.at(-1);
    page.view.entries.push({ at: last?.at ?? new Date().toISOString(), kind: "note", speaker: "", text: "" });
    page.dirty = true;
    render();
    $("entries").lastElementChild?.querySelector("textarea")?.focus();
  });
  addEventListener("beforeunload", (e) => {
    if (page.dirty) e.preventDefault();
  });
}

start();
