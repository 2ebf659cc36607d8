// Small pure helpers shared by the views: wording, number formats and a DOM builder.
// Text always goes in as textContent (never innerHTML): file names and server details are untrusted.

export const VERDICTS = {
  ai: "Likely AI-generated",
  human: "Likely human",
  mixed: "Mixed: AI and human parts",
  uncertain: "Uncertain",
  not_applicable: "Not analysed",
};

export const LABELS = { ai: "AI", human: "Human", uncertain: "Uncertain", silent: "Silent" };

// NotApplicableReason (openapi.json) in words.
export const REASONS = {
  too_short: "the audio is too short to analyse",
  silent: "the audio is silent",
  no_speech_or_music: "no speech or music was found in it",
  invalid_samples: "its samples are invalid (NaN or infinite values)",
};

// Report stages (openapi.json `Stage`) plus the page's own steps before the report exists.
export const STAGES = {
  waiting: "Waiting to upload",
  preparing: "Preparing upload",
  uploading: "Uploading",
  submitting: "Submitting",
  retrying: "Waiting for a free slot",
  queued: "Queued",
  downloading: "Fetching upload",
  decoding: "Decoding",
  analyzing: "Analyzing",
  finalizing: "Finalizing",
  done: "Done",
};

export function pct(p, digits = 0) {
  return p == null || Number.isNaN(p) ? "–" : `${(p * 100).toFixed(digits)}%`;
}

// 3.0 s under a minute, 1:02.5 above (windows are seconds long; files can be hours).
export function secs(s) {
  if (s == null) return "–";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const rest = (s - m * 60).toFixed(1).padStart(4, "0");
  return m < 60 ? `${m}:${rest}` : `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${rest}`;
}

export function bytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

export function eta(s) {
  if (s == null || s <= 0) return "";
  return s < 90 ? `about ${Math.ceil(s)} s left` : `about ${Math.ceil(s / 60)} min left`;
}

// el("p", {class: "x", onclick: f}, "text", child) — attributes, listeners, text and nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
