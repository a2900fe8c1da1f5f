// The live page's player (issue 18, point 1): a countdown before the event,
// the stream while it is live, the replay after it.
//
// HLS plays natively where the browser says it can
// (`canPlayType('application/vnd.apple.mpegurl')`), through hls.js
// elsewhere; HTTP-FLV through mpegts.js. Both are served from /vendor/ and
// loaded only when a stream needs them. A live stream that fails, stalls or
// ends while the event is live is retried with a growing delay. The player
// never stands in the way of the Q&A: live.js loads it after the room has
// connected, and every failure stays in the player's box.

import { api, el, link, when } from "./dom.js";

const HLS_TYPE = "application/vnd.apple.mpegurl";
/** Waits between attempts to reach a live stream that failed: 1 s, 2 s, … then every 30 s. */
const RETRY_SECS = [1, 2, 4, 8, 15, 30];
/** A live stream that should play but has not moved for this long is down. */
const STALL_MS = 8000;
/** An attempt that has not started playing within this is a failed one. */
const CONNECT_MS = 20000;

const vendorScripts = new Map(); // file -> Promise of the library's global

/** `/vendor/{file}` as a classic script (CSP: script-src 'self'), once; resolves to `window[global]`. */
function vendor(file, global) {
  if (window[global]) return Promise.resolve(window[global]);
  if (!vendorScripts.has(file)) {
    const loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = `/vendor/${file}`;
      script.onload = () => (window[global] ? resolve(window[global]) : reject(new Error(`${file}: no ${global}`)));
      script.onerror = () => {
        vendorScripts.delete(file); // the next attempt tries again
        reject(new Error(`${file} did not load`));
      };
      document.head.append(script);
    });
    vendorScripts.set(file, loading);
  }
  return vendorScripts.get(file);
}

/** "距开始 02:15:09", or in days and hours when a day or more away. */
export function countdownText(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days > 0) return `距开始还有 ${days} 天 ${hours} 小时 ${minutes} 分`;
  return `距开始 ${pad(hours)}:${pad(minutes)}:${pad(s % 60)}`;
}

export class Player {
  /** `box`: the 16:9 area (#stream); `eventId`: whose media to play. */
  constructor(box, eventId) {
    this.box = box;
    this.eventId = eventId;
    this.status = null;
    this.event = null;
    this.media = null;
    this.state = null; // what the box shows: see `show`
    this.playing = null; // {url, kind, live} being played, or null
    this.engine = null; // the hls.js or mpegts.js instance
    this.attempt = 0; // bumped on every (re)start: late callbacks of an older attempt are ignored
    this.trying = false; // an attempt is under way (a failure counts once, and not while waiting to retry)
    this.failures = 0; // live failures in a row: the index into RETRY_SECS
    this.timers = new Set();
    this.video = null;
    this.panel = el("div", "player-panel");
    this.title = el("p", "player-title");
    this.title.setAttribute("role", "status"); // announced on each change of state, not each second
    this.detail = el("p", "player-detail");
    this.countdown = el("p", "player-countdown");
    this.links = el("p", "player-links");
    this.panel.append(this.title, this.detail, this.countdown, this.links);
    this.unmute = el("button", "player-unmute", "开启声音");
    this.unmute.type = "button";
    this.unmute.hidden = true;
    this.unmute.addEventListener("click", () => {
      if (!this.video) return;
      this.video.muted = false;
      this.unmute.hidden = true;
    });
    this.box.replaceChildren(this.panel, this.unmute);
    this.show("loading", "直播画面加载中…");
    window.addEventListener("online", () => {
      if (this.state === "reconnecting") this.start();
    });
    document.addEventListener("securitypolicyviolation", (e) => this.refused(e));
  }

  /** The event as `/api/events/{id}` gives it (for its start time). */
  setEvent(event) {
    this.event = event;
    if (this.media) this.render();
  }

  /** The event's status, from the room or the page: a change re-reads the media (a replay may have come). */
  async setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    await this.load();
  }

  async load() {
    try {
      this.media = await api("GET", `/api/events/${this.eventId}/media`);
    } catch (err) {
      console.warn("player: no media", err);
      this.media = this.media ?? { stream_url: null, stream_kind: "none", replay_url: null, replay_kind: "none", captions_url: null };
    }
    this.render();
  }

  // ---- what to show ----

  render() {
    const { status, media } = this;
    if (!status || !media) return;
    if (status === "announced" || status === "rescheduled") return this.upcoming();
    if (status === "live") {
      if (media.stream_kind === "none") return this.stop("none", "直播进行中", "本场直播暂无视频画面，欢迎在下方参与互动。");
      return this.begin(media.stream_url, media.stream_kind, true);
    }
    if (status === "ended" || status === "materials_published") {
      if (media.replay_kind !== "none") return this.begin(media.replay_url, media.replay_kind, false);
      return this.ended();
    }
    if (status === "cancelled") return this.stop("cancelled", "本场活动已取消");
    this.stop("none", "活动尚未公布");
  }

  upcoming() {
    this.stop("upcoming", "直播未开始");
    const startsAt = this.event?.starts_at;
    const moved = this.status === "rescheduled" ? "（已改期）" : "";
    this.detail.replaceChildren();
    if (startsAt) {
      const time = el("time", null, when(startsAt, { year: false }));
      time.dateTime = startsAt;
      this.detail.append("开始时间：", time, moved);
    } else this.detail.textContent = `开始时间待公告${moved}`;
    this.detail.hidden = false;
    const tick = () => {
      const left = startsAt ? Date.parse(startsAt) - Date.now() : NaN;
      this.countdown.hidden = Number.isNaN(left);
      this.countdown.textContent = left > 0 ? countdownText(left) : "直播即将开始，请稍候";
    };
    tick();
    if (startsAt) this.every(1000, tick);
    this.links.replaceChildren("现在可以在下方提前提问。");
    this.links.hidden = false;
  }

  ended() {
    this.stop("ended", "直播已结束");
    this.detail.textContent = "感谢收看。本场暂无回放。";
    this.detail.hidden = false;
    // The answers, the 实录 and the record are linked once, in the ended box below the player.
    this.links.replaceChildren(link("问题答复和活动实录见下方", "#ended-box"));
    this.links.hidden = false;
  }

  /**
   * Show `state` in the panel: `title` (the live region), `detail`. States:
   * loading, upcoming, none, cancelled, ended (the panel, no video);
   * connecting, reconnecting, blocked (autoplay refused), failed (the panel
   * over the video); playing, replay, embedded (a corner label over the picture).
   */
  show(state, title, detail = "") {
    this.state = state;
    this.box.dataset.state = state;
    if (this.title.textContent !== title) this.title.textContent = title;
    this.detail.textContent = detail;
    this.detail.hidden = !detail;
    this.countdown.hidden = true;
    this.links.hidden = true;
    this.panel.classList.toggle("player-corner", ["playing", "replay", "embedded"].includes(state));
    this.unmute.hidden = !(state === "playing" && this.video?.muted);
  }

  /** Stop any playback and show a state without a picture. */
  stop(state, title, detail = "") {
    this.teardown();
    this.clearTimers();
    this.trying = false;
    this.playing = null;
    this.failures = 0;
    this.video?.remove();
    this.video = null;
    this.box.querySelector("iframe, .player-open")?.remove();
    this.show(state, title, detail);
  }

  // ---- playing ----

  /** Play `url` (`kind` hls, flv, file or page); `live`: the stream, else the replay. */
  begin(url, kind, live) {
    const same = this.playing && this.playing.url === url && this.playing.live === live;
    if (same) return; // already on it (a status frame repeated, the media read again)
    this.stop("connecting", live ? "正在连接直播…" : "直播已结束");
    this.playing = { url, kind, live };
    if (kind === "page") return this.embed(url, live);
    if (location.protocol === "https:" && url.startsWith("http:")) {
      // A secure page may not read an http stream (mixed content): no attempt would ever play.
      this.show("failed", live ? "直播中" : "直播已结束", "此视频地址不支持在本页播放。");
      this.offerLink(url, live ? "在新窗口观看直播" : "在新窗口观看回放");
      return;
    }
    this.video = this.makeVideo(live);
    this.box.prepend(this.video);
    this.captions();
    this.start();
  }

  makeVideo(live) {
    const video = el("video");
    video.controls = true;
    video.playsInline = true;
    video.preload = live ? "auto" : "metadata";
    video.setAttribute("aria-label", live ? "直播画面" : "直播回放");
    if (live) {
      // Browsers start a picture by themselves only without sound: the viewer turns it on.
      video.muted = true;
      video.autoplay = true;
    }
    const progress = () => {
      if (video !== this.video) return;
      this.moved = { at: Date.now(), time: video.currentTime };
    };
    video.addEventListener("timeupdate", progress);
    video.addEventListener("playing", () => {
      if (video !== this.video) return;
      progress();
      this.failures = 0;
      if (this.playing?.live) this.show("playing", "直播中");
      else this.show("replay", "直播已结束 · 回放");
    });
    video.addEventListener("loadedmetadata", () => {
      if (video === this.video && !this.playing?.live && this.state === "connecting") this.show("replay", "直播已结束 · 回放");
    });
    video.addEventListener("volumechange", () => {
      if (video === this.video) this.unmute.hidden = !(this.state === "playing" && video.muted);
    });
    video.addEventListener("error", () => {
      if (video === this.video && video.getAttribute("src")) this.failed(`video error ${video.error?.code}`);
    });
    video.addEventListener("ended", () => {
      // A live stream that ends while the event is live (the encoder stopped) is down, not over.
      if (video === this.video && this.playing?.live) this.failed("ended");
    });
    return video;
  }

  /** One attempt at the current source. */
  async start() {
    const playing = this.playing;
    const video = this.video;
    if (!playing || !video) return;
    const attempt = ++this.attempt;
    this.teardown();
    this.clearTimers();
    this.trying = true;
    this.moved = { at: Date.now(), time: video.currentTime };
    const current = () => attempt === this.attempt && this.video === video;
    try {
      if (playing.kind === "hls" && !video.canPlayType(HLS_TYPE)) await this.startHls(playing, video, current);
      else if (playing.kind === "flv") await this.startFlv(playing, video, current);
      else video.src = playing.url; // native HLS, or a media file
      if (!current()) return;
      if (playing.live) {
        this.watch(current);
        video.play().catch((err) => {
          // Even muted playing may be refused (a saver mode): the controls start it.
          if (current() && err?.name === "NotAllowedError") this.show("blocked", "点击播放键观看直播");
        });
      }
    } catch (err) {
      if (!current()) return;
      if (err?.unsupported) return this.unsupported(playing);
      this.failed(err?.message ?? String(err));
    }
  }

  async startHls(playing, video, current) {
    const Hls = await vendor("hls.min.js", "Hls");
    if (!current()) return;
    if (!Hls.isSupported()) throw Object.assign(new Error("no MediaSource"), { unsupported: true });
    // No worker: its blob: script would need `worker-src blob:` in the CSP.
    const hls = new Hls({ enableWorker: false, backBufferLength: 30 });
    this.engine = { destroy: () => hls.destroy() };
    let recovered = false;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!current() || !data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
        recovered = true; // once per attempt, as hls.js advises
        hls.recoverMediaError();
        return;
      }
      this.failed(`hls.js ${data.type} ${data.details}`);
    });
    hls.loadSource(playing.url);
    hls.attachMedia(video);
  }

  async startFlv(playing, video, current) {
    const mpegts = await vendor("mpegts.js", "mpegts");
    if (!current()) return;
    if (!mpegts.isSupported()) throw Object.assign(new Error("no MediaSource"), { unsupported: true });
    const player = mpegts.createPlayer(
      { type: "flv", isLive: playing.live, url: playing.url },
      { enableWorker: false, lazyLoad: !playing.live, liveBufferLatencyChasing: playing.live },
    );
    this.engine = {
      destroy: () => {
        player.pause();
        player.unload();
        player.detachMediaElement();
        player.destroy();
      },
    };
    player.on(mpegts.Events.ERROR, (type, detail) => {
      if (current()) this.failed(`mpegts.js ${type} ${detail}`);
    });
    player.attachMediaElement(video);
    player.load();
  }

  /** While live: an attempt that never starts, or a picture that stops moving, is a failure. */
  watch(current) {
    const started = Date.now();
    this.every(1000, () => {
      const video = this.video;
      if (!current() || !video) return;
      const now = Date.now();
      if (video.currentTime !== this.moved.time) this.moved = { at: now, time: video.currentTime };
      if (this.state === "connecting" || this.state === "reconnecting") {
        if (now - started > CONNECT_MS) this.failed("no picture");
      } else if (!video.paused && now - this.moved.at > STALL_MS) this.failed("stalled");
    });
  }

  /** The current source failed: a live stream is tried again after a while; a replay says so. */
  failed(why) {
    const playing = this.playing;
    if (!playing || !this.trying) return;
    console.warn("player:", why);
    this.trying = false;
    this.attempt += 1; // whatever the failed attempt still does is ignored
    this.teardown();
    this.clearTimers();
    if (!playing.live) {
      this.show("failed", "回放暂时无法播放");
      this.offerLink(playing.url, "在新窗口打开回放");
      const retry = el("button", "player-retry", "重试");
      retry.type = "button";
      retry.addEventListener("click", () => this.start());
      this.links.append(" ", retry);
      return;
    }
    const wait = RETRY_SECS[Math.min(this.failures, RETRY_SECS.length - 1)];
    this.failures += 1;
    this.show("reconnecting", "信号中断，正在重连…");
    let left = wait;
    const tick = () => {
      this.detail.textContent = left > 0 ? `${left} 秒后重试（第 ${this.failures} 次）` : "正在重试…";
      this.detail.hidden = false;
      if (left <= 0) {
        this.start();
        return;
      }
      left -= 1;
    };
    tick();
    this.every(1000, tick);
  }

  /** The CSP refused the stream's site (not among `--media-origins`): no retry would help. */
  refused(e) {
    const playing = this.playing;
    const directive = e.effectiveDirective || e.violatedDirective || "";
    if (!playing || !/^(connect|media)-src/.test(directive)) return;
    let origin;
    try {
      origin = new URL(playing.url).origin;
    } catch {
      return;
    }
    if (!e.blockedURI.startsWith(origin)) return;
    console.warn(`player: ${origin} is not among the server's media origins (--media-origins)`);
    this.attempt += 1;
    this.trying = false;
    this.teardown();
    this.clearTimers();
    this.show("failed", playing.live ? "直播地址未获准在本页播放" : "回放地址未获准在本页播放");
    this.offerLink(playing.url, playing.live ? "在新窗口观看直播" : "在新窗口观看回放");
  }

  unsupported(playing) {
    this.teardown();
    this.show("failed", "当前浏览器无法播放此视频", "请换用其他浏览器，或在新窗口打开视频地址。");
    this.offerLink(playing.url, "在新窗口打开视频地址");
  }

  offerLink(url, text) {
    const a = el("a", "player-open", text);
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    this.links.replaceChildren(a);
    this.links.hidden = false;
  }

  /** A page of the streaming platform, in a sandboxed frame (https only: the CSP's frame-src). */
  embed(url, live) {
    const label = live ? "直播中" : "直播已结束 · 回放";
    let parsed = null;
    try {
      parsed = new URL(url);
    } catch {
      // shown as a link below
    }
    if (!parsed || parsed.protocol !== "https:") {
      this.show("failed", live ? "直播中" : "直播已结束");
      this.offerLink(url, live ? "在新窗口观看直播" : "在新窗口观看回放");
      return;
    }
    const frame = el("iframe");
    frame.src = parsed.href;
    frame.title = live ? "直播画面" : "直播回放";
    frame.allow = "autoplay; fullscreen; picture-in-picture";
    frame.allowFullscreen = true;
    frame.referrerPolicy = "no-referrer";
    // Its own origin keeps its cookies and scripts; never ours (that would undo the sandbox).
    const own = parsed.origin === location.origin;
    frame.sandbox = `allow-scripts allow-presentation allow-popups${own ? "" : " allow-same-origin"}`;
    this.box.prepend(frame);
    this.show("embedded", label);
  }

  /** The event's WebVTT captions as a track: read into a blob, so the video needs no CORS mode. */
  async captions() {
    const url = this.media?.captions_url;
    const video = this.video;
    if (!url || !video) return;
    try {
      const res = await fetch(url, { credentials: "omit" });
      const text = res.ok ? await res.text() : "";
      if (!text.startsWith("WEBVTT") && !text.startsWith("\uFEFFWEBVTT")) throw new Error(`not WebVTT (${res.status})`);
      if (video !== this.video) return;
      const track = el("track");
      track.kind = "captions";
      track.srclang = "zh";
      track.label = "中文字幕";
      track.default = true;
      track.src = URL.createObjectURL(new Blob([text], { type: "text/vtt" }));
      video.append(track);
    } catch (err) {
      console.warn("player: no captions", err);
    }
  }

  // ---- housekeeping ----

  teardown() {
    const engine = this.engine;
    this.engine = null;
    try {
      engine?.destroy();
    } catch (err) {
      console.warn("player: teardown", err);
    }
    const video = this.video;
    if (video?.getAttribute("src") || video?.src) {
      video.removeAttribute("src");
      video.load();
    }
  }

  every(ms, fn) {
    const id = setInterval(fn, ms);
    this.timers.add(id);
  }

  clearTimers() {
    for (const id of this.timers) clearInterval(id);
    this.timers.clear();
  }
}
