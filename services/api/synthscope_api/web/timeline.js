// The timeline of one report: a coloured cell per window, the probability curve above the cells (inline SVG),
// a playback cursor driven by the <audio> element, and a detail line for the hovered or focused window.
// Cells are buttons in one tab stop (roving tabindex): arrows move between windows, Enter plays from one.

import { el, LABELS, pct, secs, svg } from "./format.js";

const MIN_CELL_PX = 4; // below this a window is not clickable: long files scroll sideways instead

export function timelineView(result, { tier, audio }) {
  const windows = result.timeline || [];
  const duration = Math.max(result.audio?.duration_s || 0, windows.at(-1)?.end || 0) || 1;
  const at = (t) => `${((100 * t) / duration).toFixed(3)}%`;

  const detail = el("p", { class: "tl-detail", "aria-live": "polite" }, "Hover over or focus a window for its scores.");
  const cells = el("div", {
    class: "tl-cells",
    role: "group",
    "aria-label": "Windows: arrow keys move between them, Enter plays from the focused one",
  });
  const cursor = el("div", { class: "tl-cursor", "aria-hidden": "true" });
  const track = el("div", { class: "tl-track" }, curve(windows, duration), cells, cursor);
  track.style.minWidth = `${windows.length * MIN_CELL_PX}px`;

  const buttons = windows.map((w, i) => {
    const next = windows[i + 1];
    const end = next ? Math.min(w.end, next.start) : w.end; // overlapping windows (hop < window) must not cover
    const b = el("button", {
      type: "button",
      class: "cell",
      "data-label": w.label,
      "data-index": i,
      tabindex: i === 0 ? 0 : -1,
      "aria-label": `${secs(w.start)} to ${secs(w.end)}: ${LABELS[w.label] || w.label}, AI ${pct(w.ai_probability)}`,
    });
    b.style.left = at(w.start);
    b.style.width = at(end - w.start);
    return b;
  });
  cells.append(...buttons);

  const lastEnd = windows.at(-1)?.end ?? 0;
  const shown = windows.length;
  const total = result.summary?.windows ?? shown;
  if (shown < total && duration - lastEnd > 0.01) {
    // The redacted rest of the file: visible as hatched, so the timeline keeps the file's real length.
    const locked = el("div", { class: "cell locked", title: `Hidden on the ${tier} tier` });
    locked.append(el("span", { class: "visually-hidden" }, `${total - shown} more windows hidden on the ${tier} tier`));
    locked.style.left = at(lastEnd);
    locked.style.width = at(duration - lastEnd);
    cells.append(locked);
  }

  const show = (i) => {
    detail.replaceChildren(...describe(windows[i], i, total, tier));
    buttons.forEach((b, j) => b.classList.toggle("current", j === i));
  };
  const focusCell = (i) => {
    buttons.forEach((b, j) => (b.tabIndex = j === i ? 0 : -1));
    buttons[i].focus();
  };
  cells.addEventListener("focusin", (e) => e.target.dataset.index && show(Number(e.target.dataset.index)));
  cells.addEventListener("mouseover", (e) => e.target.dataset.index && show(Number(e.target.dataset.index)));
  cells.addEventListener("keydown", (e) => {
    const i = Number(e.target.dataset.index);
    if (Number.isNaN(i)) return;
    const to = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: shown - 1 }[
      e.key
    ];
    if (to === undefined) return;
    e.preventDefault();
    focusCell(Math.max(0, Math.min(shown - 1, to)));
  });
  cells.addEventListener("click", (e) => {
    const i = Number(e.target.dataset?.index);
    if (Number.isNaN(i) || !audio) return;
    audio.currentTime = windows[i].start;
    audio.play().catch(() => {}); // a browser may refuse to play (policy, codec); seeking still happened
  });

  if (audio) follow(audio, cursor, at, duration);

  return el(
    "figure",
    { class: "timeline" },
    el("figcaption", {}, `AI probability over time, ${shown} of ${total} windows shown (dashed line: 50%)`),
    el("div", { class: "tl-scroll" }, track),
    el("div", { class: "tl-axis", "aria-hidden": "true" }, el("span", {}, "0:00"), el("span", {}, secs(duration))),
    detail,
    legend(),
  );
}

// One line about a window: times, probability, label and the per-detector scores the tier may see.
function describe(w, i, total, tier) {
  const parts = [
    el("strong", {}, `Window ${i + 1} of ${total}: ${secs(w.start)} – ${secs(w.end)}`),
    ` · AI probability ${pct(w.ai_probability, 1)} · ${LABELS[w.label] || w.label}`,
  ];
  const scores = Object.entries(w.detectors || {});
  if (scores.length) {
    parts.push(el("br"), "Detectors: ", scores.map(([name, p]) => `${name} ${pct(p, 1)}`).join(" · "));
  } else if (tier === "free") {
    parts.push(el("br"), el("span", { class: "muted" }, "Per-detector scores are not part of the free tier."));
  }
  return parts;
}

// The probability curve: a line through the windows' midpoints, held flat out to the first and last window's
// edges, with the area under it shaded; broken at silent windows (no probability). A dashed line marks 50%.
// viewBox units: x in 0..1000 of the duration, y in 0..100 (top = certainly AI, bottom = certainly human).
function curve(windows, duration) {
  const runs = [[]];
  for (const w of windows) {
    if (w.ai_probability == null) runs.push([]);
    else runs.at(-1).push(w);
  }
  const x = (t) => ((1000 * t) / duration).toFixed(1);
  const y = (p) => (4 + 92 * (1 - p)).toFixed(1); // a 4-unit margin keeps a 0% or 100% line in view
  let line = "";
  let area = "";
  for (const run of runs.filter((r) => r.length)) {
    const pts = run.map((w) => [x((w.start + w.end) / 2), y(w.ai_probability)]);
    pts.unshift([x(run[0].start), pts[0][1]]);
    pts.push([x(run.at(-1).end), pts.at(-1)[1]]);
    const path = pts.map(([px, py], i) => `${i ? "L" : "M"}${px},${py}`).join(" ");
    line += `${path} `;
    area += `${path} L${pts.at(-1)[0]},100 L${pts[0][0]},100 Z `;
  }
  return svg(
    "svg",
    { class: "tl-curve", viewBox: "0 0 1000 100", preserveAspectRatio: "none", "aria-hidden": "true" },
    svg("path", { class: "tl-area", d: area.trim() }),
    svg("line", { class: "tl-mid", x1: 0, x2: 1000, y1: 50, y2: 50 }),
    svg("path", { class: "tl-line", d: line.trim() }),
  );
}

function legend() {
  return el(
    "ul",
    { class: "legend", "aria-label": "Colours" },
    ["ai", "human", "uncertain", "silent"].map((k) =>
      el("li", {}, el("span", { class: "swatch", "data-label": k, "aria-hidden": "true" }), LABELS[k]),
    ),
  );
}

// Move the cursor with playback: timeupdate is only ~4 Hz, so animation frames smooth it while playing.
function follow(audio, cursor, at, duration) {
  let frame = 0;
  const place = () => {
    cursor.style.left = at(Math.min(audio.currentTime, duration));
    cursor.classList.toggle("active", audio.currentTime > 0 || !audio.paused);
  };
  const tick = () => {
    place();
    frame = audio.paused ? 0 : requestAnimationFrame(tick);
  };
  audio.addEventListener("play", () => frame || (frame = requestAnimationFrame(tick)));
  for (const ev of ["timeupdate", "seeked", "pause", "ended"]) audio.addEventListener(ev, place);
}
