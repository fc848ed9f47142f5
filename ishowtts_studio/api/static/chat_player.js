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
  const STALL_S = 10; // the server sends a heartbeat every 2 s: a stream silent this long is dead, open another
  const FETCH_MARGIN_S = 0.5; // a segment's audio is given up this long after the segment should have ended

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
      suspendedAt: null, // {wall: performance.now(), clock: ctx.currentTime} when the context left "running"
      connection: "connecting",
      now: null,
      log: [],
      retryMs: 1000,
      heardAt: performance.now(), // when the event stream last said anything (heartbeats included)
    };
    window.__chatPlayerLog = p.log;

    function emit(kind, seg, item) {
      const entry = { type: kind, id: seg.id, author: seg.author || "", text: seg.text || "",
        message: seg.message || "", at: Date.now(),
        start_at: seg.start_at, duration_s: seg.duration_s };
      if (item) { entry.ctxStart = item.ctxStart; entry.ctxEnd = item.ctxEnd; }
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
        p.ctx.onstatechange = clockStateChanged;
      }
      return p.ctx;
    }

    // server epoch seconds minus audio-clock seconds; before the first heartbeat, trust the local clock
    function offset() {
      return p.offset !== null ? p.offset : Date.now() / 1000 - audioContext().currentTime;
    }

    function serverNow() {
      return audioContext().currentTime + offset();
    }

    // A suspended AudioContext's clock stands still (paused by the server, or by a browser that waits for a
    // gesture): the mapping moves by the time it stood still, and no samples are taken meanwhile. That time is
    // measured (wall time minus what the audio clock ran), not assumed to be the whole suspension: a browser may
    // keep the clock running for part of it, and an offset pushed too far ahead would mark every announced
    // segment as already over ("missed") until 30 new samples replaced it (seen in headless Chromium under load).
    function clockStateChanged() {
      const ctx = p.ctx;
      if (ctx.state !== "running") {
        if (p.suspendedAt === null) p.suspendedAt = { wall: performance.now(), clock: ctx.currentTime };
      } else if (p.suspendedAt !== null) {
        const wall = (performance.now() - p.suspendedAt.wall) / 1000;
        const stoodStill = Math.max(0, wall - (ctx.currentTime - p.suspendedAt.clock));
        if (p.offset !== null) {
          p.offset += stoodStill;
          p.offsets = [p.offset];
        }
        p.suspendedAt = null;
      }
      render();
    }

    function noteClock(serverTime) {
      const ctx = audioContext();
      if (ctx.state !== "running") return;
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
      if (why) emit(why, item.seg, item);
      if (p.now && p.now.id === id) { p.now = null; render(); }
    }

    function stopAll(why) {
      Array.from(p.playing.keys()).forEach((id) => stopSegment(id, why));
      p.chain = null;
    }

    // A segment's audio is fetched as soon as it is announced (several downloads at once) and given up once the
    // segment would be over: one stalled download must not hold back the segments after it.
    function fetchBuffer(seg) {
      const ctrl = new AbortController();
      const wait = Math.max(2, seg.start_at + seg.duration_s - serverNow() + FETCH_MARGIN_S);
      const timer = setTimeout(() => ctrl.abort(), wait * 1000);
      return fetch(opts.audioUrl + encodeURIComponent(seg.token) + ".wav", {
        credentials: "same-origin", cache: "no-store", signal: ctrl.signal,
      }).then((resp) => {
        if (!resp.ok) throw new Error("audio " + resp.status);
        return resp.arrayBuffer();
      }).then((data) => audioContext().decodeAudioData(data)).finally(() => clearTimeout(timer));
    }

    async function playSegment(seg, pending) {
      const ctx = audioContext();
      const endAt = seg.start_at + seg.duration_s;
      if (endAt <= serverNow() || !pending) { emit("missed", seg); return; }
      const buffer = await pending;
      if (p.playing.has(seg.id)) stopSegment(seg.id, null); // the server moved it: follow the new time
      // consecutive segments keep the server's spacing exactly; a lone one is placed by the clock
      const c = p.chain;
      let ctxStart;
      if (c && Math.abs(seg.start_at - c.end_at) < 0.5 && p.playing.has(c.id)) {
        ctxStart = c.ctxStart + (seg.start_at - c.start_at);
        ctxStart = Math.max(ctxStart, c.ctxEnd - MAX_FADE_S);
      } else {
        ctxStart = seg.start_at - offset();
      }
      let skipInto = 0;
      const late = ctx.currentTime + LEAD_S - ctxStart;
      if (late > 0) {
        if (late > LATE_JOIN_S && !(c && p.playing.has(c.id))) skipInto = late; // joined mid-message
        ctxStart = ctx.currentTime + LEAD_S;
      }
      if (skipInto >= buffer.duration) { emit("missed", seg); return; }
      schedule(seg, buffer, ctxStart, skipInto);
    }

    // Start `buffer` at AudioContext time ctxStart (from skipInto seconds into it), after what is scheduled.
    function schedule(seg, buffer, ctxStart, skipInto) {
      const ctx = p.ctx;
      const c = p.chain && p.playing.has(p.chain.id) ? p.chain : null;
      const ctxEnd = ctxStart + buffer.duration - skipInto;
      // the overlap with the previous segment (the server's cross-fade) is faded both ways
      const fade = c ? Math.min(MAX_FADE_S, Math.max(0, c.ctxEnd - ctxStart)) : 0;
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
      const item = { node: node, gainNode: g, seg: seg, buffer: buffer, ctxStart: ctxStart, ctxEnd: ctxEnd,
        timers: [], started: false };
      p.playing.set(seg.id, item);
      // the chain pairs the segment's server start with where its first sample is (or would have been) here
      p.chain = { id: seg.id, start_at: seg.start_at, end_at: seg.start_at + seg.duration_s,
        ctxStart: ctxStart - skipInto, ctxEnd: ctxEnd };
      const announce = () => {
        if (item.started || p.playing.get(seg.id) !== item) return;
        if (p.ctx.currentTime + 0.005 < item.ctxStart) { // not yet (the context was suspended meanwhile)
          item.timers.push(setTimeout(announce, (item.ctxStart - p.ctx.currentTime) * 1000));
          return;
        }
        item.started = true;
        p.now = seg;
        emit("start", seg, item);
        render();
      };
      item.timers.push(setTimeout(announce, Math.max(0, (ctxStart - ctx.currentTime) * 1000)));
      node.onended = () => {
        if (p.playing.get(seg.id) !== item) return;
        p.playing.delete(seg.id);
        item.timers.forEach(clearTimeout);
        if (!item.started) { item.started = true; emit("start", seg, item); }
        emit("end", seg, item);
        if (p.now && p.now.id === seg.id) p.now = null;
        render();
      };
    }

    // skip: the server ended this segment now and moved every announced one after it earlier by one same time,
    // so the first starts at once and the rest keep their spacing behind it
    function skip(id) {
      stopSegment(id, "skip");
      const t = p.ctx.currentTime;
      const later = Array.from(p.playing.values()).filter((it) => !it.started && it.ctxStart > t)
        .sort((a, b) => a.ctxStart - b.ctxStart);
      if (!later.length) return;
      const shift = later[0].ctxStart - (t + LEAD_S); // audio-clock seconds the rest of the timeline moves
      const serverShift = later[0].seg.start_at - (serverNow() + LEAD_S);
      p.chain = null; // nothing plays before the first of them now: no cross-fade
      later.forEach((it) => {
        p.playing.delete(it.seg.id);
        it.timers.forEach(clearTimeout);
        it.node.onended = null;
        try { it.node.stop(); } catch (e) { /* never started */ }
        const moved = Object.assign({}, it.seg, { start_at: it.seg.start_at - serverShift });
        schedule(moved, it.buffer, it.ctxStart - shift, 0); // in order: each cross-fades into the one before
      });
    }

    // pause: the whole timeline stops where it is; resume continues it (the server shifts every announced
    // segment by the paused time, which is what a suspended AudioContext does to everything scheduled on it)
    function setPaused(paused) {
      if (paused === p.paused) return;
      p.paused = paused;
      const ctx = audioContext();
      if (paused) ctx.suspend().then(render, render);
      else ctx.resume().then(render, render);
      render();
    }

    function handle(ev) {
      if (typeof ev.server_time === "number") noteClock(ev.server_time);
      if (typeof ev.volume === "number") setVolume(ev.volume);
      if (ev.type === "segment") {
        // (a segment already over, e.g. one replayed to a player that just connected, is not downloaded)
        const pending = ev.start_at + ev.duration_s > serverNow() ? fetchBuffer(ev) : null;
        if (pending) pending.catch(() => {}); // a failed download is reported when the segment's turn comes
        p.work = p.work.then(() => playSegment(ev, pending)).catch((err) => {
          console.warn("chat player: segment", ev.id, err);
          emit("missed", ev);
        });
      } else if (ev.type === "skip") {
        p.work = p.work.then(() => skip(ev.id));
      } else if (ev.type === "state" || ev.type === "hello") {
        if (typeof ev.paused === "boolean") p.work = p.work.then(() => setPaused(ev.paused));
      }
    }

    function connect() {
      if (p.source) p.source.close();
      const url = opts.eventsUrl + (p.lastId ? "?last=" + encodeURIComponent(p.lastId) : "");
      const es = new EventSource(url, { withCredentials: true });
      p.source = es;
      es.onopen = () => { p.connection = "live"; p.retryMs = 1000; p.heardAt = performance.now(); render(); };
      es.onmessage = (msg) => {
        p.heardAt = performance.now();
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

    // A connection can die without closing (a dropped route, a sleeping NAT entry): the browser then waits on it
    // for ever. Heartbeats come every 2 s, so a stream silent for STALL_S is replaced (from the last event seen).
    function watchStream() {
      const es = p.source;
      if (es && es.readyState === EventSource.OPEN && performance.now() - p.heardAt > STALL_S * 1000) {
        console.warn("chat player: nothing from the studio for " + STALL_S + " s, opening a new stream");
        p.connection = "reconnecting";
        p.heardAt = performance.now();
        render();
        connect();
      }
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
      if (ctx.state !== "running" && !p.paused) ctx.resume().then(render, render);
    }

    audioContext();
    // browsers start audio only after a gesture unless the page is allowed to autoplay (OBS, kiosk)
    ["pointerdown", "keydown"].forEach((t) => document.addEventListener(t, unlock, { passive: true }));
    connect();
    setInterval(watchStream, 1000);
    render();
    return { state: p, log: p.log, setAudible: setAudible, unlock: unlock, reconnect: connect };
  }

  window.IShowChatPlayer = { create: create };
})();
