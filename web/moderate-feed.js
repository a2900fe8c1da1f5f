// The console's text feed (图文直播): staff serving the event post short
// updates, each with an optional picture, and edit or withdraw them in place,
// over HTTP (POST/PATCH/DELETE /api/events/{id}/updates, the picture first
// by POST /api/events/{id}/images). The list follows the room: what this
// console or another one changed reaches it as `update` / `update_removed`
// frames in `room.updates` (followRoom), and our own answers land there too.

import { $, ApiError, api, button as actionButton, el, errorText, say, signInUrl } from "./dom.js";
import { FEED_IMAGE_ERROR } from "./labels.js";
import { showFeed, updateContent, updateImage, updateKey } from "./feed.js";

const FEED_MAX = 1000;
const IMAGE_MAX_BYTES = 2 * 1024 * 1024;

/** The event, and the console's room (its `updates` kept by followRoom). */
let eventId = null;
let room = { updates: new Map() };

const feed = {
  image: null, // the uploaded image the next update shows: { id, width, height }
  uploading: false,
  sizes: new Map(), // image id -> { width, height } of the images uploaded from this console
  editing: null, // the update being edited in place
  draft: "", // its text as typed so far (kept when the item is rebuilt)
  dropImage: false, // the edit takes the image away
  confirming: null, // the update whose withdrawal waits for a second click
  items: new Map(), // update id -> { node, key }
};

/** Characters as the server counts them (code points), against the limit. */
function feedCount(text) {
  return `${[...text].length} / ${FEED_MAX}`;
}

/** Draw the list as `room.updates` has it; the console calls it with every render. */
export function renderFeed() {
  // Rebuilding an item must not lose the keyboard's place in it.
  const active = document.activeElement;
  const within = active?.closest?.("#feed-list li[data-id]");
  const place = within ? { id: within.dataset.id, role: active.dataset.role } : null;
  if (feed.editing !== null && !room.updates.has(feed.editing)) feed.editing = null; // withdrawn meanwhile
  const mode = (u) => (feed.editing === u.id ? "edit" : feed.confirming === u.id ? "confirm" : "show");
  const count = showFeed($("feed-list"), feed.items, room.updates.values(), feedItem, (u) => `${updateKey(u)}${mode(u)}`);
  $("feed-empty").hidden = count > 0;
  if (place && !active.isConnected) focusFeed(place.id, place.role);
}

function focusFeed(id, role) {
  document.querySelector(`#feed-list li[data-id="${id}"] [data-role="${role}"]`)?.focus();
}

function feedItem(u) {
  const li = el("li", "post feed-item");
  if (feed.editing === u.id) {
    li.append(editForm(u));
    return li;
  }
  li.append(...updateContent(u, feed.sizes.get(u.image_id)));
  const row = el("div", "actions");
  const edit = actionButton("编辑", () => startEdit(u.id), "secondary");
  edit.dataset.role = "edit";
  edit.setAttribute("aria-label", `编辑：${preview(u.text)}`);
  const withdraw = actionButton("撤回", () => confirmWithdraw(u.id), "secondary");
  withdraw.dataset.role = "withdraw";
  withdraw.setAttribute("aria-label", `撤回：${preview(u.text)}`);
  row.append(edit, withdraw);
  li.append(row);
  if (feed.confirming === u.id) {
    const box = el("div", "feed-confirm");
    box.append(el("p", null, "撤回后观众将看不到这条内容，回看和重连也不再显示。确定撤回吗？"));
    const ok = actionButton("确认撤回", () => withdrawUpdate(u.id), "danger");
    ok.dataset.role = "withdraw-ok";
    const keep = actionButton("不撤回", () => {
      feed.confirming = null;
      renderFeed();
      focusFeed(u.id, "withdraw");
    }, "secondary");
    keep.dataset.role = "withdraw-cancel";
    box.append(ok, keep);
    li.append(box);
  }
  return li;
}

/** The first words of an update, to tell its buttons apart for a screen reader. */
function preview(text) {
  const chars = [...text];
  return chars.length > 20 ? `${chars.slice(0, 20).join("")}…` : text;
}

function editForm(u) {
  const form = el("form", "feed-edit");
  const area = el("textarea");
  area.id = `feed-edit-${u.id}`;
  area.rows = 3;
  area.maxLength = FEED_MAX;
  area.required = true;
  area.value = feed.draft;
  area.dataset.role = "edit-text";
  const label = el("label", null, "修改内容");
  label.htmlFor = area.id;
  const count = el("p", "feed-count muted", feedCount(feed.draft));
  count.id = `feed-edit-count-${u.id}`;
  area.setAttribute("aria-describedby", count.id);
  area.addEventListener("input", () => {
    feed.draft = area.value;
    count.textContent = feedCount(area.value);
  });
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      cancelEdit(u.id);
    }
  });
  form.append(label, area, count);
  if (u.image_id !== null && u.image_id !== undefined) {
    form.append(updateImage(u.image_id, feed.sizes.get(u.image_id)));
    const drop = el("input");
    drop.type = "checkbox";
    drop.checked = feed.dropImage;
    drop.dataset.role = "edit-drop-image";
    drop.addEventListener("change", () => (feed.dropImage = drop.checked));
    const choice = el("label", "choice-inline");
    choice.append(drop, " 去掉这张图片");
    form.append(choice);
  }
  const save = el("button", null, "保存");
  save.type = "submit";
  save.dataset.role = "edit-save";
  const cancel = actionButton("取消", () => cancelEdit(u.id), "secondary");
  cancel.dataset.role = "edit-cancel";
  const row = el("div", "actions");
  row.append(save, cancel);
  form.append(row);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    saveEdit(u, save);
  });
  return form;
}

function startEdit(id) {
  const u = room.updates.get(id);
  if (!u) return;
  Object.assign(feed, { editing: id, draft: u.text, dropImage: false, confirming: null });
  say($("feed-list-msg"), "");
  renderFeed();
  const area = $(`feed-edit-${id}`);
  area?.focus();
  area?.setSelectionRange(area.value.length, area.value.length);
}

function cancelEdit(id) {
  feed.editing = null;
  renderFeed();
  focusFeed(id, "edit");
}

async function saveEdit(u, save) {
  const text = feed.draft.trim();
  if (!text) return say($("feed-list-msg"), "内容不能为空");
  const image = feed.dropImage ? null : (u.image_id ?? null);
  save.disabled = true;
  try {
    const saved = await api("PATCH", `/api/events/${eventId}/updates/${u.id}`, { text, image_id: image });
    room.updates.set(saved.id, saved);
    feed.editing = null;
    renderFeed();
    focusFeed(saved.id, "edit");
    say($("feed-list-msg"), "修改已保存，观众看到的内容已更新（标为“已编辑”）。", true);
  } catch (err) {
    save.disabled = false;
    say($("feed-list-msg"), errorText(err));
  }
}

function confirmWithdraw(id) {
  feed.confirming = id;
  say($("feed-list-msg"), "");
  renderFeed();
  focusFeed(id, "withdraw-ok");
}

async function withdrawUpdate(id) {
  try {
    await api("DELETE", `/api/events/${eventId}/updates/${id}`);
    room.updates.delete(id);
    feed.confirming = null;
    renderFeed();
    $("feed-list-title").tabIndex = -1;
    $("feed-list-title").focus();
    say($("feed-list-msg"), "已撤回。", true);
  } catch (err) {
    say($("feed-list-msg"), errorText(err));
  }
}

/** POST the file as it is (its own type as Content-Type): the image's id and size, or an ApiError. */
async function uploadImage(file) {
  let res;
  try {
    res = await fetch(`/api/events/${eventId}/images`, {
      method: "POST",
      headers: { accept: "application/json", "content-type": file.type || "application/octet-stream" },
      body: file,
    });
  } catch {
    throw new ApiError(0, "network", "");
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = data?.error;
    if (res.status === 401 && e?.code === "session_expired") location.assign(signInUrl());
    throw new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? "");
  }
  return data;
}

/** Why an upload failed, in Chinese: by its status (too large, not an image, too many pixels), else by its code. */
function imageErrorText(err) {
  const base = FEED_IMAGE_ERROR[err.status];
  if (!base) return errorText(err);
  return err.message ? `${base}（${err.message}）` : base;
}

function showPreview() {
  const box = $("feed-preview");
  box.hidden = !feed.image;
  $("feed-preview-image").replaceChildren(...(feed.image ? [updateImage(feed.image.id, feed.image)] : []));
}

async function chooseImage() {
  const input = $("feed-image");
  const file = input.files?.[0];
  feed.image = null;
  showPreview();
  if (!file) return;
  const msg = $("feed-msg");
  if (file.size > IMAGE_MAX_BYTES) {
    input.value = "";
    return say(msg, FEED_IMAGE_ERROR[413]);
  }
  feed.uploading = true;
  $("feed-submit").disabled = true;
  say(msg, "图片上传中……", true);
  try {
    const image = await uploadImage(file);
    feed.image = { id: image.id, width: image.width, height: image.height };
    feed.sizes.set(image.id, { width: image.width, height: image.height });
    showPreview();
    say(msg, `图片已上传（${image.width}×${image.height}），发布时一并显示。`, true);
  } catch (err) {
    input.value = "";
    say(msg, imageErrorText(err));
  } finally {
    feed.uploading = false;
    $("feed-submit").disabled = false;
  }
}

function removeImage() {
  feed.image = null;
  $("feed-image").value = "";
  showPreview();
  say($("feed-msg"), "");
  $("feed-image").focus();
}

async function postUpdate(e) {
  e.preventDefault();
  const msg = $("feed-msg");
  const text = $("feed-text").value.trim();
  if (!text) return say(msg, "请填写要发布的内容");
  if (feed.uploading) return say(msg, "图片还在上传，请稍候");
  const submit = $("feed-submit");
  submit.disabled = true;
  try {
    const posted = await api("POST", `/api/events/${eventId}/updates`, { text, image_id: feed.image?.id ?? null });
    room.updates.set(posted.id, posted);
    $("feed-text").value = "";
    $("feed-count").textContent = feedCount("");
    feed.image = null;
    $("feed-image").value = "";
    showPreview();
    renderFeed();
    say(msg, "已发布，观众已收到。", true);
  } catch (err) {
    say(msg, errorText(err));
  } finally {
    submit.disabled = false;
  }
}

/** Wire the panel's form for event `id`, its list following `liveRoom.updates`. */
export function wireFeed(id, liveRoom) {
  eventId = id;
  room = liveRoom;
  $("feed-text").addEventListener("input", () => ($("feed-count").textContent = feedCount($("feed-text").value)));
  $("feed-image").addEventListener("change", chooseImage);
  $("feed-image-remove").addEventListener("click", removeImage);
  $("feed-form").addEventListener("submit", postUpdate);
}
