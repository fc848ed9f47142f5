// iShowTTS live-chat player: follows the server's playout timeline (Server-Sent Events from /chat/events),
// fetches each segment's WAV by its token and schedules it with the Web Audio API, so consecutive messages
// play back to back with no gap and no overlap beyond the server's cross-fade.
//
// Used twice: inside the studio's Live chat tab (through a gr.HTML js_on_load) and by the OBS overlay page
// (/overlay). Both call window.IShowChatPlayer.create(root, options).
//
// For tests and diagnostics every player keeps `player.log` (also window.__chatPlayerLog): one entry per
// "start" / "end" / "skip" / "missed" of a segment, with its message id, author and text, in the order heard.
(function () {
  "use strict";
  if (window.IShowChatPlayer) return;

  const LATE_JOIN_S = 1.5; // later than this behind the timeline: join mid-message instead of shifting
  const LEAD_S = 0.03; // scheduling head-room so a start never lands in the past
  const FADE_STOP_S = 0.03; // fade used when a segment is stopped (skip, pause) to avoid a click
  const MAX_FADE_S = 0.25;

  function create(root, options) {
    const opts = Object.assign({ eventsUrl: "chat/events", audioUrl: "chat/audio/", audible: true }, options || {});
    const p = {
      root: root,
      ctx: null,
      gain: null,
      source: null,
      lastId: "", // "<boot>.<seq>" of the last event seen, sent back on reconnect
      offset: null, // server epoch seconds minus AudioContext seconds (the smallest-latency sample)
      offsets: [],
      chain: null, // the last segment scheduled: {start_at, end_at, ctxStart, ctxEnd}
      playing: new Map(), // message id -> {node, gainNode, seg, ctxStart, ctxEnd, timers}
      work: Promise.resolve(), // events are handled one after another, in server order
      volume: 1.0,
      audible: opts.audible,
      paused: false,
      connection: "connecting",
      now: null,
      log: [],
      retryMs: 1000,
    };
    window.__chatPlayerLog = p.log;

    function emit(kind, seg) {
      const entry = { type: kind, id: seg.id, author: seg.author || "", text: seg.text || "", at: Date.now() };
      p.log.push(entry);
      if (p.log.length > 500) p.log.splice(0, p.log.length - 500);
      root.dispatchEvent(new CustomEvent("chat-segment-" + kind, { detail: entry, bubbles: true }));
    }

    function audioContext() {
      if (!p.ctx) {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        p.ctx = new Ctx();
        p.gain = p.ctx.createGain();
        p.gain.gain.value = p.audible ? p.volume : 0;
        p.gain.connect(p.ctx.destination);
        p.ctx.onstatechange = render;
      }
      return p.ctx;
    }

    function serverNow() {
      return p.offset === null ? Date.now() / 1000 : audioContext().currentTime + p.offset;
    }

    function noteClock(serverTime) {
      const ctx = audioContext();
      // transit delay only makes the sample smaller than the truth: keep the largest of recent samples
      p.offsets.push(serverTime - ctx.currentTime);
      if (p.offsets.length > 30) p.offsets.shift();
      p.offset = Math.max.apply(null, p.offsets);
    }

    function setVolume(v) {
      if (typeof v !== "number" || !isFinite(v)) return;
      p.volume = Math.min(1, Math.max(0, v));
      if (p.gain) p.gain.gain.setTargetAtTime(p.audible ? p.volume : 0, p.ctx.currentTime, 0.02);
    }

    function stopSegment(id, why) {
      const item = p.playing.get(id);
      if (!item) return;
      p.playing.delete(id);
      item.timers.forEach(clearTimeout);
      const t = p.ctx.currentTime;
      try {
        item.gainNode.gain.cancelScheduledValues(t);
        item.gainNode.gain.setValueAtTime(item.gainNode.gain.value, t);
        item.gainNode.gain.linearRampToValueAtTime(0, t + FADE_STOP_S);
        item.node.stop(t + FADE_STOP_S);
      } catch (e) { /* already stopped */ }
      if (p.chain && p.chain.id === id) p.chain = null;
      if (why) emit(why, item.seg);
      if (p.now && p.now.id === id) { p.now = null; render(); }
    }

    function stopAll(why) {
      Array.from(p.playing.keys()).forEach((id) => stopSegment(id, why));
      p.chain = null;
    }

    async function fetchBuffer(seg) {
      const resp = await fetch(opts.audioUrl + encodeURIComponent(seg.token) + ".wav", {
        credentials: "same-origin", cache: "no-store",
      });
      if (!resp.ok) throw new Error("audio " + resp.status);
      return await audioContext().decodeAudioData(await resp.arrayBuffer());
    }

    async function playSegment(seg) {
      const ctx = audioContext();
      if (p.paused) return;
      const endAt = seg.start_at + seg.duration_s;
      if (endAt <= serverNow()) { emit("missed", seg); return; }
      const buffer = await fetchBuffer(seg);
      if (p.paused) return;
      if (p.playing.has(seg.id)) stopSegment(seg.id, null); // the server moved it: follow the new time
      // consecutive segments keep the server's spacing exactly; a lone one is placed by the clock
      const c = p.chain;
      let ctxStart;
      if (c && Math.abs(seg.start_at - c.end_at) < 0.5 && p.playing.has(c.id)) {
        ctxStart = c.ctxStart + (seg.start_at - c.start_at);
        ctxStart = Math.max(ctxStart, c.ctxEnd - MAX_FADE_S);
      } else {
        ctxStart = seg.start_at - p.offset;
      }
      let skipInto = 0;
      const late = ctx.currentTime + LEAD_S - ctxStart;
      if (late > 0) {
        if (late > LATE_JOIN_S && !(c && p.playing.has(c.id))) skipInto = late; // joined mid-message
        ctxStart = ctx.currentTime + LEAD_S;
      }
      if (skipInto >= buffer.duration) { emit("missed", seg); return; }
      const ctxEnd = ctxStart + buffer.duration - skipInto;
      // the overlap with the previous segment (the server's cross-fade) is faded both ways
      const fade = c && p.playing.has(c.id) ? Math.min(MAX_FADE_S, Math.max(0, c.ctxEnd - ctxStart)) : 0;
      const node = ctx.createBufferSource();
      node.buffer = buffer;
      const g = ctx.createGain();
      node.connect(g);
      g.connect(p.gain);
      if (fade > 0) {
        g.gain.setValueAtTime(0, ctxStart);
        g.gain.linearRampToValueAtTime(1, ctxStart + fade);
        const prev = p.playing.get(c.id);
        prev.gainNode.gain.setValueAtTime(1, ctxStart);
        prev.gainNode.gain.linearRampToValueAtTime(0, ctxStart + fade);
      }
      node.start(ctxStart, skipInto);
      const item = { node: node, gainNode: g, seg: seg, ctxStart: ctxStart, ctxEnd: ctxEnd, timers: [] };
      p.playing.set(seg.id, item);
      p.chain = { id: seg.id, start_at: seg.start_at + skipInto, end_at: endAt, ctxStart: ctxStart, ctxEnd: ctxEnd };
      item.timers.push(setTimeout(() => {
        p.now = seg;
        emit("start", seg);
        render();
      }, Math.max(0, (ctxStart - ctx.currentTime) * 1000)));
      node.onended = () => {
        if (p.playing.get(seg.id) !== item) return;
        p.playing.delete(seg.id);
        emit("end", seg);
        if (p.now && p.now.id === seg.id) p.now = null;
        render();
      };
    }

    function handle(ev) {
      if (typeof ev.server_time === "number") noteClock(ev.server_time);
      if (typeof ev.volume === "number") setVolume(ev.volume);
      if (ev.type === "segment") {
        p.work = p.work.then(() => playSegment(ev)).catch((err) => {
          console.warn("chat player: segment", ev.id, err);
          emit("missed", ev);
        });
      } else if (ev.type === "skip") {
        p.work = p.work.then(() => stopSegment(ev.id, "skip"));
      } else if (ev.type === "state") {
        p.paused = !!ev.paused;
        if (p.paused) p.work = p.work.then(() => stopAll("skip"));
        render();
      }
    }

    function connect() {
      if (p.source) p.source.close();
      const url = opts.eventsUrl + (p.lastId ? "?last=" + encodeURIComponent(p.lastId) : "");
      const es = new EventSource(url, { withCredentials: true });
      p.source = es;
      es.onopen = () => { p.connection = "live"; p.retryMs = 1000; render(); };
      es.onmessage = (msg) => {
        if (msg.lastEventId) p.lastId = msg.lastEventId;
        let ev;
        try { ev = JSON.parse(msg.data); } catch (e) { return; }
        if (ev.type === "hello") {
          if (p.boot && p.boot !== ev.boot) stopAll(null); // a restarted studio has a new timeline
          p.boot = ev.boot;
          p.offsets = [];
        }
        handle(ev);
      };
      es.onerror = () => {
        p.connection = "reconnecting";
        render();
        // the browser retries a dropped stream itself; a refused one (studio down, error status) we retry
        if (es.readyState === EventSource.CLOSED) {
          setTimeout(() => { if (p.source === es) connect(); }, p.retryMs);
          p.retryMs = Math.min(p.retryMs * 2, 15000);
        }
      };
    }

    function render() {
      const state = !p.ctx || p.ctx.state === "running" ? p.connection : "click to enable sound";
      root.dataset.connection = p.connection;
      root.dataset.audio = p.ctx ? p.ctx.state : "none";
      root.dataset.nowId = p.now ? String(p.now.id) : "";
      if (opts.onRender) opts.onRender({ now: p.now, connection: p.connection, state: state, paused: p.paused,
        audioState: p.ctx ? p.ctx.state : "none", audible: p.audible });
    }

    function setAudible(on) {
      p.audible = !!on;
      setVolume(p.volume);
      if (p.audible) unlock();
      render();
    }

    function unlock() {
      const ctx = audioContext();
      if (ctx.state !== "running") ctx.resume().then(render, render);
    }

    audioContext();
    // browsers start audio only after a gesture unless the page is allowed to autoplay (OBS, kiosk)
    ["pointerdown", "keydown"].forEach((t) => document.addEventListener(t, unlock, { passive: true }));
    connect();
    render();
    return { state: p, log: p.log, setAudible: setAudible, unlock: unlock, reconnect: connect };
  }

  window.IShowChatPlayer = { create: create };
})();
