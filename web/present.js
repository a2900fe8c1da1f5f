// The presenter screen for the hall's big screen: the pinned question large,
// the next ones by upvotes, the current poll's results as bars, and the
// text feed's latest update (图文直播) under the poll. It shows only what the
// public sees.

import { LiveClient, followRoom } from "./live-client.js";
import { $, api, el, idFromUrl, pollResults, scheduler, showConnection } from "./dom.js";
import { POLL_KIND, labelOf } from "./labels.js";
import { newestFirst, postedAt, showFeed, updateImage } from "./feed.js";

const NEXT_COUNT = 6;
const eventId = idFromUrl();
const render = scheduler(renderAll);
// The comments are kept but not shown: the big screen has the questions.
const room = { pinned: null, viewers: null, questions: new Map(), comments: new Map(), polls: new Map(), updates: new Map() };
const follow = followRoom(room, render);

const client = new LiveClient(eventId, {
  handlers: {
    ...follow,
    status: (state) => showConnection($("conn"), state),
    snapshot: (s) => {
      follow.snapshot(s);
      room.polls = new Map((s.polls ?? []).map((p) => [p.id, p]));
    },
    presence: ({ viewers }) => {
      room.viewers = viewers;
      render();
    },
    poll: ({ poll }) => {
      room.polls.set(poll.id, { ...poll, shownAt: Date.now() });
      render();
    },
    poll_results: ({ poll_id, tally }) => {
      const poll = room.polls.get(poll_id);
      if (poll) poll.tally = tally;
      render();
    },
  },
});

function renderAll() {
  $("viewers").textContent = room.viewers === null ? "— 人在看" : `${room.viewers} 人在看`;
  const pinned = room.pinned !== null ? room.questions.get(room.pinned) : null;
  const box = $("pinned");
  if (pinned) {
    const parts = [el("p", "big-meta", `${pinned.nickname} · 赞 ${pinned.upvotes}`), el("p", "big-question", pinned.text)];
    if (pinned.answer) parts.push(el("p", "big-answer", `回答：${pinned.answer}`));
    box.replaceChildren(...parts);
  } else {
    box.replaceChildren(el("p", "big-meta muted", "暂无置顶问题"));
  }
  // Unanswered first, then by upvotes: the host's to-do list.
  const next = [...room.questions.values()]
    .filter((q) => q.id !== room.pinned)
    .sort((a, b) => Number(a.answered) - Number(b.answered) || b.upvotes - a.upvotes || a.id - b.id)
    .slice(0, NEXT_COUNT);
  $("next").replaceChildren(
    ...next.map((q) => {
      const li = el("li");
      li.dataset.id = q.id;
      li.append(el("span", "votes", `赞 ${q.upvotes}`), el("span", "q", q.text));
      if (q.answered) li.append(el("span", "tag tag-answered", "已回答"));
      return li;
    }),
  );
  $("next-empty").hidden = next.length > 0;
  renderPoll();
  renderLatestUpdate();
}

const latestItems = new Map(); // the one update shown: rebuilt (its image fetched) only when it changes

/** The text feed's latest update, under the poll; the corner stays away while there is none. */
function renderLatestUpdate() {
  const latest = newestFirst(room.updates.values()).slice(0, 1);
  $("feed-corner").hidden = latest.length === 0;
  showFeed($("feed-latest"), latestItems, latest, (u) => {
    const box = el("article", "present-update");
    box.append(el("p", "big-meta", `${postedAt(u.posted_at)}${u.edited ? " · 已编辑" : ""}`), el("p", "present-update-text", u.text));
    if (u.image_id !== null && u.image_id !== undefined) box.append(updateImage(u.image_id));
    return box;
  });
}

/** The current poll: the open one shown last, else the poll that closed last. */
function currentPoll() {
  const polls = [...room.polls.values()];
  const open = polls.filter((p) => p.status === "open");
  const pick = (list) => list.sort((a, b) => (b.shownAt ?? 0) - (a.shownAt ?? 0) || b.id - a.id)[0];
  return pick(open) ?? pick(polls.filter((p) => p.status === "closed")) ?? null;
}

function renderPoll() {
  const poll = currentPoll();
  const box = $("poll");
  if (!poll) {
    box.replaceChildren(el("p", "big-meta muted", "当前没有投票"));
    return;
  }
  const state = poll.status === "open" ? "投票进行中" : "投票已结束";
  box.replaceChildren(
    el("p", "big-meta", `${labelOf(POLL_KIND, poll.kind)} · ${state}`),
    el("p", "present-poll-title", poll.title),
    pollResults(poll, poll.tally),
  );
}

if (eventId !== null) {
  api("GET", `/api/events/${eventId}`)
    .then((event) => {
      $("title").textContent = event.title;
      document.title = `${event.title} · 直播大屏`;
    })
    .catch(() => {});
  client.connect();
  window.minshengLive = client;
} else {
  showConnection($("conn"), "closed");
}
