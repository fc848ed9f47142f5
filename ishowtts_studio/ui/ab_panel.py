"""The NFE tab's blind A/B panel: two clips with neutral names, a vote that unlocks once both were really
heard, keys 1/2/3 and R, and the reveal after the vote.

The A/B mapping never reaches the page: the trial id sits in a gr.State and the clips carry neutral names
(`<trial>-A.wav`); the labels come back only in the answer to the vote. The vote buttons unlock after both
clips were played to the end (a listener on the player HTML triggers the `end` event once both <audio>
elements fired `ended`).
"""

import time
import urllib.parse
from typing import Any

import gradio as gr

from ishowtts_studio.blind_copy import write_blind_copy
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.common import user_errors


def ab_clips(studio: Studio, trial_id: str, a: Any, b: Any) -> tuple[str, str]:
    """A trial's two clips as fresh blind copies (`audio.write_blind_copy`: own bytes, one fixed date) at new random
    addresses every time, withdrawn when the trial is voted on. Not links to the renders: a link kept the render's
    date, which the web server sends as Last-Modified and in the ETag, and its bytes, whose hash named the render
    once one vote had revealed it."""
    out = []
    for source, side in ((a, "A"), (b, "B")):
        target = studio.served.new_file(f"{trial_id}-{side}.wav", tag=trial_id)
        out.append(str(write_blind_copy(source, target)))
    return out[0], out[1]


# A clip counts as heard only when it was played through: seconds of real playback (timeupdate steps while
# not seeking) must cover nearly all of it before `ended` fires, so seeking to the end does not count. The
# tally is kept per clip URL, and every trial's clips have their own URLs (`<trial>-A.wav`), so a player
# element that Gradio reuses for the next trial starts that trial from zero.
ENDED_JS = """
const heard = new Set();
const tally = new Map();
const key = (a) => a.currentSrc || a.src;
element.addEventListener('timeupdate', (ev) => {
  const a = ev.target;
  const t = tally.get(key(a)) || {secs: 0, last: null};
  if (t.last !== null && !a.seeking) {
    const step = a.currentTime - t.last;
    if (step > 0 && step < 1.5) t.secs += step;
  }
  t.last = a.currentTime;
  tally.set(key(a), t);
}, true);
element.addEventListener('seeking', (ev) => {
  const t = tally.get(key(ev.target));
  if (t) t.last = null;
}, true);
element.addEventListener('play', (ev) => {
  const t = tally.get(key(ev.target));
  if (t) t.last = ev.target.currentTime;
}, true);
element.addEventListener('ended', (ev) => {
  const a = ev.target;
  const t = tally.get(key(a));
  if (!t || !isFinite(a.duration) || t.secs < 0.9 * a.duration - 0.3) return;
  heard.add(key(a));
  const clips = [...element.querySelectorAll('audio')];
  if (clips.length === 2 && clips.every((c) => heard.has(key(c)))) trigger('end');
}, true);
"""


# Keyboard for the blind A/B (outside text boxes): 1 = A, 2 = no difference, 3 = B (only once the vote is
# unlocked), S = skip the trial, R = play the last clip again from the start.
AB_KEYS_JS = """
() => {
  if (window.__ishowttsAbKeys) return;
  window.__ishowttsAbKeys = true;
  let last = "a";
  document.addEventListener("play", (e) => {
    const id = e.target && e.target.id;
    if (id === "ab-audio-a" || id === "ab-audio-b") last = id.slice(-1);
  }, true);
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing || e.repeat) return;
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    const votes = {"1": "ab-vote-a", "2": "ab-vote-tie", "3": "ab-vote-b"};
    const el = document.getElementById(votes[e.key] || "");
    if (el && el.offsetParent !== null) {
      const btn = el.tagName === "BUTTON" ? el : el.querySelector("button");
      if (btn && !btn.disabled) { e.preventDefault(); btn.click(); }
      return;
    }
    if (e.key === "s" || e.key === "S") {
      const skip = document.getElementById("ab-skip");
      const btn = skip && (skip.tagName === "BUTTON" ? skip : skip.querySelector("button"));
      if (btn && !btn.disabled && skip.offsetParent !== null) { e.preventDefault(); btn.click(); }
      return;
    }
    if (e.key === "r" || e.key === "R") {
      const clip = document.getElementById("ab-audio-" + last);
      if (!clip || clip.offsetParent === null) return;
      e.preventDefault();
      document.querySelectorAll("#ab-player audio").forEach((a) => { if (a !== clip) a.pause(); });
      clip.currentTime = 0;
      clip.play();
    }
  }, true);
}
"""


def player_html(a: Any, b: Any) -> str:
    def one(side: str, path: Any) -> str:
        src = "gradio_api/file=" + urllib.parse.quote(str(path))
        return (f'<div class="ab-side"><strong>{side}</strong><br>'
                f'<audio controls preload="auto" src="{src}" id="ab-audio-{side.lower()}"></audio></div>')
    return f'<div style="display:flex;flex-wrap:wrap;gap:1rem 2rem">{one("A", a)}{one("B", b)}</div>'


def build_ab_panel(studio: Studio) -> None:
    """The A/B section of the NFE tab (call inside the tab)."""
    gr.Markdown("### 2 · Blind A/B\nEnter your name and ask for a trial: two clips of the same text, voice and "
                "seed at two NFEs (a candidate against the reference, or two neighbouring candidates), "
                "loudness-matched. Play both to the end, then vote. Which NFE was which is shown after the vote.")
    with gr.Row(equal_height=True):
        reviewer = gr.Textbox(label="Your name", max_length=100, elem_id="ab-reviewer", scale=3)
        next_btn = gr.Button("Next trial", variant="primary", elem_id="ab-next", scale=1)
    trial = gr.State(None)
    played = gr.State({"A": False, "B": False, "t0": 0.0})
    # plain <audio> elements for the studio's own WAV files (served as they are, never re-normalised); the
    # listener unlocks the vote through the `end` event once every clip of the current trial has ended
    player = gr.HTML("", elem_id="ab-player", js_on_load=ENDED_JS)
    with gr.Row(elem_id="ab-votes"):  # one row of equal buttons at every width (see the page CSS)
        vote_a = gr.Button("A sounds better [1]", interactive=False, elem_id="ab-vote-a")
        vote_tie = gr.Button("No difference [2]", interactive=False, elem_id="ab-vote-tie")
        vote_b = gr.Button("B sounds better [3]", interactive=False, elem_id="ab-vote-b")
    # outside the row of votes, so the three vote buttons stay symmetric; skipping needs no listening
    skip_btn = gr.Button("Skip this trial [S]", size="sm", interactive=False, elem_id="ab-skip")
    reveal = gr.Markdown("", elem_id="ab-reveal")

    def locked() -> Any:  # an update, built inside handlers: a Button made here would render on the page
        return gr.Button(interactive=False)

    def next_trial(name: Any) -> tuple[Any, ...]:
        trial_id, a, b = studio.ab.next_trial(name)
        a, b = ab_clips(studio, trial_id, a, b)
        return (trial_id, {"A": False, "B": False, "t0": time.time()}, player_html(a, b), locked(), locked(), locked(),
                gr.Button(interactive=True),
                "Play both clips to the end to unlock the vote. Keys: 1 = A, 2 = no difference, 3 = B, "
                "R = play the last clip again, S = skip this trial.")

    next_btn.click(user_errors(next_trial), inputs=[reviewer],
                   outputs=[trial, played, player, vote_a, vote_tie, vote_b, skip_btn, reveal],
                   api_visibility="private")

    def skip(trial_id: Any, name: Any) -> tuple[Any, ...]:
        if not trial_id:
            raise gr.Error("Ask for a trial first.")
        studio.ab.skip(trial_id, name)
        studio.served.withdraw_tag(trial_id)  # the trial is over: its clips are no longer served
        return (None, "", "Skipped: no vote was stored, and this pair will not come back to you. Press *Next "
                "trial* for another.", locked(), locked(), locked(), locked())

    skip_btn.click(user_errors(skip), inputs=[trial, reviewer],
                   outputs=[trial, player, reveal, vote_a, vote_tie, vote_b, skip_btn], api_visibility="private")

    def ended(state: dict[str, Any], trial_id: Any) -> tuple[Any, ...]:
        if not trial_id:
            return state, locked(), locked(), locked()
        state = dict(state or {}, A=True, B=True)
        on = gr.Button(interactive=True)
        return state, on, on, on

    player.end(ended, inputs=[played, trial], outputs=[played, vote_a, vote_tie, vote_b],
               api_visibility="private", queue=False)

    def vote(choice: str):
        def fn(trial_id: Any, name: Any, state: dict[str, Any]) -> tuple[Any, ...]:
            if not trial_id:
                raise gr.Error("Ask for a trial first.")
            if not (state and state.get("A") and state.get("B")):
                raise gr.Error("Play both clips to the end before voting.")
            secs = time.time() - float(state.get("t0") or time.time())
            r = studio.ab.vote(trial_id, name, choice, secs)
            studio.served.withdraw_tag(trial_id)  # the trial is over: its clips are no longer served
            said = "no difference" if r["choice"] == "tie" else r["choice"]
            msg = (f"You chose **{said}**. A was **{r['a_label']}**, B was **{r['b_label']}** "
                   f"(reference NFE {r['reference_nfe']}). Press *Next trial* for another.")
            return None, msg, locked(), locked(), locked(), locked()
        return fn

    for btn, ch in ((vote_a, "A"), (vote_tie, "tie"), (vote_b, "B")):
        btn.click(user_errors(vote(ch)), inputs=[trial, reviewer, played],
                  outputs=[trial, reveal, vote_a, vote_tie, vote_b, skip_btn], api_visibility="private")
