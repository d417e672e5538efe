// Small helpers shared by the views: HTML escaping, number formats, the status scale.

/** Escapes text for interpolation into innerHTML templates (every API string goes through this). */
export function esc(value) {
  return String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

/** A number for people: 3 significant digits, thousands separators for large values, '–' for none. */
export function num(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  const n = Number(value);
  if (n === 0) return '0';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en');
  if (Math.abs(n) < 1e-3) return n.toExponential(1);
  return Number(n.toPrecision(digits)).toString();
}

export function signed(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return (value > 0 ? '+' : '') + num(value, digits);
}

export function ms(value) {
  if (value === null || value === undefined) return '–';
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

/** A timestamp, short: the time alone when it is today, else day, month and time (full in tooltips). */
export function when(value) {
  if (!value) return '–';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const time = d.toLocaleTimeString('en-GB', { hour12: false });
  if (d.toDateString() === new Date().toDateString()) return time;
  return `${d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' })} ${time.slice(0, 5)}`;
}

/** Run status, worst first: the fleet sorts by this, then by the largest latest delta. */
export const STATUSES = ['critical', 'warning', 'watch', 'ok'];
export const STATUS_RANK = { critical: 3, warning: 2, watch: 1, ok: 0 };

/** Alert severities map onto the same scale as run status. */
export function worst(...statuses) {
  let best = 'ok';
  for (const s of statuses) if ((STATUS_RANK[s] ?? -1) > STATUS_RANK[best]) best = s;
  return best;
}

export function pill(status) {
  const s = status || 'unknown';
  return `<span class="pill pill-${esc(s)}">${esc(s)}</span>`;
}

/** "latent:10" / "direction:evil" — the key the API uses for a watched target. */
export function targetKey(target) {
  if (!target) return '';
  if (target.kind === 'direction') return `direction:${target.name}`;
  return `latent:${target.index}`;
}

export function targetText(target, label) {
  const base = target.kind === 'direction' ? `dir ${target.name}` : `#${target.index}`;
  return label && label !== target.name ? `${base} ${label}` : base;
}

/**
 * Heat-map colour for a delta, scaled by the largest |delta| of its column: white at 0, red as it rises,
 * blue as it falls (a falling latent is news too, but rising is what the detectors look for).
 */
export function heat(delta, scale) {
  if (delta === null || delta === undefined || !scale) return 'transparent';
  const x = Math.max(-1, Math.min(1, delta / scale));
  const a = Math.abs(x);
  return x >= 0 ? `rgba(229, 72, 77, ${0.08 + 0.82 * a})` : `rgba(62, 99, 221, ${0.08 + 0.6 * a})`;
}

export function errorBox(err) {
  return `<div class="error" role="alert">${esc(err && err.message ? err.message : err)}</div>`;
}

/** Hash-route query: #/fleet?project=a → {project: 'a'}. */
export function hashParams() {
  const i = window.location.hash.indexOf('?');
  return new URLSearchParams(i >= 0 ? window.location.hash.slice(i + 1) : '');
}

export function setHashParams(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  history.replaceState(null, '', `#${path}${s ? `?${s}` : ''}`);
}
