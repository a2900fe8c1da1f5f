// The studio's text feed (图文直播) as the live pages show it: the viewer
// page's tab, the console's list and the big screen's corner build one
// update the same way. Text goes in as textContent; the image is ours,
// served at /api/images/{id}.

import { beijingDay, clock, el, when } from "./dom.js";

/** The feed newest first (by when it was posted, then by id). */
export function newestFirst(updates) {
  return [...updates].sort((a, b) => Date.parse(b.posted_at) - Date.parse(a.posted_at) || b.id - a.id);
}

/** When an update was posted, in Beijing time: the time of day today, else with the date. */
export function postedAt(iso) {
  return beijingDay(iso) === beijingDay() ? clock(iso) : when(iso, { year: false });
}

/**
 * An update's image. `size` ({width, height}), when known, goes in the
 * attributes so the page keeps its place while the image loads; CSS scales
 * it down to the column (max-width: 100%, height: auto).
 */
export function updateImage(imageId, size = null) {
  const img = el("img", "feed-image");
  img.src = `/api/images/${imageId}`;
  img.alt = "图文直播图片";
  img.loading = "lazy";
  img.decoding = "async";
  if (size?.width && size?.height) {
    img.width = size.width;
    img.height = size.height;
  }
  return img;
}

/** The meta line (time, 已编辑), the text and the image of update `u`. */
export function updateContent(u, size = null) {
  const meta = el("p", "post-meta");
  const time = el("time", null, postedAt(u.posted_at));
  time.dateTime = u.posted_at;
  meta.append(time);
  if (u.edited) meta.append(" ", el("span", "tag", "已编辑"));
  const parts = [meta, el("p", "post-text", u.text)];
  if (u.image_id !== null && u.image_id !== undefined) parts.push(updateImage(u.image_id, size));
  return parts;
}

/** What an update's item shows: when it changes, the item is built again. */
export function updateKey(u) {
  return JSON.stringify([u.text, u.image_id ?? null, Boolean(u.edited), u.posted_at]);
}

/**
 * Keep `list` showing `updates` newest first, one item each, from `build(u)`.
 * An item is built again only when `keyOf(u)` changes (`cache`: id -> {node,
 * key}), and moved only when out of place: an image is not fetched again on
 * every frame, and a polite live region announces only what is new.
 */
export function showFeed(list, cache, updates, build, keyOf = updateKey) {
  const ordered = newestFirst(updates);
  const shown = new Set(ordered.map((u) => u.id));
  for (const [id, entry] of cache) {
    if (shown.has(id)) continue;
    entry.node.remove();
    cache.delete(id);
  }
  ordered.forEach((u, i) => {
    const key = keyOf(u);
    let entry = cache.get(u.id);
    if (!entry || entry.key !== key) {
      const node = build(u);
      node.dataset.id = u.id;
      if (entry) entry.node.replaceWith(node);
      entry = { node, key };
      cache.set(u.id, entry);
    }
    const here = list.children[i] ?? null;
    if (here !== entry.node) list.insertBefore(entry.node, here);
  });
  return ordered.length;
}
