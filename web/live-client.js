// The live room's protocol (docs/protocol.md) for the three live pages:
// connect, say hello, keep the last seq, reconnect by itself with backoff and
// resume from that seq, match answers to requests by `ref`, and hand every
// other frame to the page's handlers by its `type`.

import { VERIFICATION_KEY, VIEWER_TOKEN_KEY, store, stored } from "./dom.js";

const NICKNAME_KEY = "minsheng.nickname";

// Close codes after which trying again cannot help (protocol.md, "Close codes").
const FINAL_CLOSES = new Set([1002, 1003, 4403, 4404]);
// Frames that are not part of the room log: their seq (if any) is not ours to keep.
const UNLOGGED = new Set(["presence", "ack", "mine", "error", "pong", "moderation", "queue", "polls", "poll_admin"]);

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const PING_EVERY_MS = 25000;
const PONG_WITHIN_MS = 10000;

export function storedNickname() {
  return stored(NICKNAME_KEY) || "";
}

export class LiveClient {
  /**
   * @param {number} eventId
   * @param {object} options
   *   viewer: true to keep a viewer token in localStorage (the viewer page);
   *     staff pages send none and are recognised by their session cookie.
   *   handlers: { [type]: (frame) => void }, plus "status" (state, detail).
   */
  constructor(eventId, { viewer = false, handlers = {} } = {}) {
    this.eventId = eventId;
    this.viewer = viewer;
    this.handlers = handlers;
    this.nickname = viewer ? storedNickname() : "";
    this.lastSeq = null;
    this.state = "idle";
    this.welcome = null;
    this.socket = null;
    this.attempt = 0;
    this.connections = 0;
    this.holdUntil = 0;
    this.refCounter = 0;
    this.waiting = new Map(); // ref -> { message, resolve, reject, retry }
    this.timers = { reconnect: null, ping: null, pong: null };
  }

  get url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/api/events/${this.eventId}/live`;
  }

  connect() {
    if (this.state === "closed") return;
    this.setState(this.connections === 0 ? "connecting" : "reconnecting");
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect(String(err));
      return;
    }
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify(this.hello()));
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.stopHeartbeat();
      if (FINAL_CLOSES.has(event.code) || this.state === "closed") {
        this.finish(event.code, event.reason);
      } else {
        this.scheduleReconnect(`close ${event.code}`);
      }
    };
  }

  hello() {
    const hello = { type: "hello", protocol: 1 };
    if (this.viewer) {
      const token = stored(VIEWER_TOKEN_KEY);
      if (token) hello.viewer_token = token;
      if (this.nickname) hello.nickname = this.nickname;
      const verification = stored(VERIFICATION_KEY);
      if (verification) hello.verification = verification;
    }
    if (this.lastSeq !== null) hello.last_seq = this.lastSeq;
    return hello;
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "welcome") return this.welcomed(frame);
    if (frame.type === "snapshot") this.lastSeq = frame.seq;
    else if (typeof frame.seq === "number" && !UNLOGGED.has(frame.type)) {
      // Public frames come in seq order exactly once; never move backwards.
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
    }
    if (frame.ref !== undefined && frame.ref !== null && this.settle(frame)) return;
    if (frame.type === "error" && frame.code === "banned") this.state = "closed";
    this.emit(frame.type, frame);
  }

  welcomed(frame) {
    this.welcome = frame;
    this.attempt = 0;
    this.connections += 1;
    if (frame.viewer) store(VIEWER_TOKEN_KEY, frame.viewer.token);
    // A verification that expired or was ended: forget it (the viewer verifies again when needed).
    if (frame.viewer && !frame.viewer.verified && stored(VERIFICATION_KEY)) store(VERIFICATION_KEY, "");
    // A resume that became a snapshot (too far behind): the snapshot replaces everything.
    if (frame.start === "snapshot") this.lastSeq = frame.seq;
    this.setState("open");
    this.emit("welcome", frame);
    this.startHeartbeat();
    // Questions and comments sent before a drop go again with the same ref:
    // the server answers a committed one with its ack and never stores it twice.
    for (const [ref, entry] of this.waiting) {
      if (entry.retry && !entry.sent) this.transmit(ref, entry);
    }
  }

  settle(frame) {
    if (frame.type === "pong") {
      clearTimeout(this.timers.pong);
      return true;
    }
    const entry = this.waiting.get(frame.ref);
    if (!entry || !["ack", "error"].includes(frame.type)) return false;
    this.waiting.delete(frame.ref);
    if (frame.type === "ack") entry.resolve(frame);
    else entry.reject(Object.assign(new Error(frame.message), { code: frame.code, frame }));
    // Acks and errors still reach the page's handlers (e.g. an ack carries the new question).
    this.emit(frame.type, frame);
    return true;
  }

  /** Send a request; resolves with its `ack`, rejects with its `error` (err.code). */
  request(message) {
    const ref = `${message.type}-${Date.now().toString(36)}-${++this.refCounter}`;
    return new Promise((resolve, reject) => {
      const retry = message.type === "ask" || message.type === "comment";
      const entry = { message, resolve, reject, retry, sent: false };
      this.waiting.set(ref, entry);
      // Not on a socket that is closing (a nickname change reconnects): a
      // retried request goes out after the next welcome instead.
      if (this.state === "open" && this.socket?.readyState === WebSocket.OPEN) this.transmit(ref, entry);
      else if (!retry) {
        this.waiting.delete(ref);
        reject(Object.assign(new Error("not connected"), { code: "disconnected" }));
      }
    });
  }

  transmit(ref, entry) {
    entry.sent = true;
    this.socket.send(JSON.stringify({ ...entry.message, ref }));
  }

  /**
   * Keep this browser's verification (or forget it with `null`): it travels
   * in `hello`, so reconnect (resuming) with it.
   */
  setVerification(token) {
    store(VERIFICATION_KEY, token ?? "");
    this.restart(0);
  }

  /** The stored verification token, if any. */
  get verification() {
    return stored(VERIFICATION_KEY) || null;
  }

  /** Change the nickname: it travels in `hello`, so reconnect (resuming) with it. */
  setNickname(nickname) {
    this.nickname = nickname;
    store(NICKNAME_KEY, nickname);
    this.restart(0);
  }

  /**
   * Drop the connection as a network failure would, and let the client
   * reconnect by itself (after at least `holdMs`). The browser tests use it.
   */
  restart(holdMs = 0) {
    this.holdUntil = Date.now() + holdMs;
    if (this.socket) this.socket.close(4000, "restart");
    else this.scheduleReconnect("restart");
  }

  close() {
    this.state = "closed";
    clearTimeout(this.timers.reconnect);
    this.stopHeartbeat();
    if (this.socket) this.socket.close(1000, "bye");
  }

  scheduleReconnect(reason) {
    this.failWaiting();
    this.setState("reconnecting", reason);
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    const delay = Math.max(base * (0.75 + Math.random() / 2), this.holdUntil - Date.now());
    clearTimeout(this.timers.reconnect);
    this.timers.reconnect = setTimeout(() => this.connect(), delay);
  }

  failWaiting() {
    for (const [ref, entry] of this.waiting) {
      if (entry.retry) {
        entry.sent = false;
        continue;
      }
      this.waiting.delete(ref);
      entry.reject(Object.assign(new Error("connection lost"), { code: "disconnected" }));
    }
  }

  finish(code, reason) {
    this.state = "closed";
    clearTimeout(this.timers.reconnect);
    for (const entry of this.waiting.values()) {
      entry.reject(Object.assign(new Error("connection closed"), { code: "disconnected" }));
    }
    this.waiting.clear();
    this.emit("status", "closed", { code, reason });
  }

  // Browsers answer the server's pings without us; our own ping notices a
  // connection that died silently (a phone changing networks) sooner.
  startHeartbeat() {
    this.stopHeartbeat();
    this.timers.ping = setInterval(() => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
      this.socket.send(JSON.stringify({ type: "ping", ref: `ping-${++this.refCounter}` }));
      clearTimeout(this.timers.pong);
      const socket = this.socket;
      this.timers.pong = setTimeout(() => socket.close(4000, "no pong"), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  stopHeartbeat() {
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.pong);
  }

  setState(state, detail) {
    if (this.state === "closed") return;
    this.state = state;
    this.emit("status", state, detail);
  }

  emit(type, ...args) {
    const handler = this.handlers[type];
    if (!handler) return;
    try {
      handler(...args);
    } catch (err) {
      console.error(`handling ${type}`, err);
    }
  }
}

/**
 * The handlers that keep the public room in `room` — `questions`,
 * `comments` and `updates` (the text feed, 图文直播; maps by id), `pinned`,
 * `viewers` — and call `render` after each change. A page spreads them into
 * its own handlers and wraps the ones it does more with. An `update` or
 * `update_removed` frame is logged like the others: the client keeps its
 * seq and a resume replays what was missed.
 */
export function followRoom(room, render) {
  const changes = (update) => (frame) => {
    update(frame);
    render();
  };
  return {
    snapshot: changes((s) => {
      room.pinned = s.pinned;
      room.viewers = s.viewers;
      room.questions = new Map(s.questions.map((q) => [q.id, q]));
      room.comments = new Map((s.comments ?? []).map((c) => [c.id, c]));
      room.updates = new Map((s.updates ?? []).map((u) => [u.id, u]));
    }),
    question: changes(({ question }) => room.questions.set(question.id, question)),
    question_removed: changes(({ question_id }) => room.questions.delete(question_id)),
    comment: changes(({ comment }) => room.comments.set(comment.id, comment)),
    comment_removed: changes(({ comment_id }) => room.comments.delete(comment_id)),
    upvotes: changes(({ question_id, upvotes }) => {
      const q = room.questions.get(question_id);
      if (q) q.upvotes = upvotes;
    }),
    pinned: changes(({ question_id }) => {
      room.pinned = question_id;
    }),
    // A new update, or an edited one (`edited: true`): replace by id or add.
    update: changes((frame) => (room.updates ??= new Map()).set(frame.update.id, frame.update)),
    update_removed: changes(({ update_id }) => room.updates?.delete(update_id)),
  };
}
