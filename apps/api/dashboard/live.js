// The one connection to the alert stream (SSE) that every view shares: views subscribe with onAlert and
// unsubscribe when they are left. EventSource reconnects by itself; the header shows whether it is live.
import { api, stream } from './api.js';

const listeners = new Set();
// Event names the stream may use; unnamed events arrive as 'message'.
const EVENT_NAMES = [
  'message',
  'alert',
  'opened',
  'resolved',
  'acknowledged',
  'updated',
  'alert.opened',
  'alert.resolved',
  'alert.acknowledged',
  'alert.updated',
];
let source = null;

export function onAlert(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Accepts the stream's envelope {eventId, change, alert} or a bare alert. */
function normalize(eventName, raw) {
  let data;
  try {
    data = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!data || typeof data !== 'object') return null;
  const alert = data.alert && typeof data.alert === 'object' ? data.alert : data;
  if (!alert.id) return null;
  const type = data.change || data.type || data.event || (eventName === 'message' ? alert.status : eventName);
  return { type: String(type || 'updated').replace(/^alert\./, ''), alert };
}

export function startLive() {
  if (source) return;
  const indicator = document.getElementById('live');
  const set = (state, text) => {
    indicator.dataset.state = state;
    indicator.textContent = text;
  };
  source = stream('/v1/alerts/stream');
  source.onopen = () => set('live', '● live');
  source.onerror = () =>
    set(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting', 'reconnecting…');
  const seen = new Map(); // de-duplicates the same event delivered under two names
  for (const name of EVENT_NAMES) {
    source.addEventListener(name, (event) => {
      const update = normalize(name, event.data);
      if (!update) return;
      const key = `${update.alert.id}:${update.alert.status}:${update.type}`;
      if (seen.get(key) === event.lastEventId + event.data) return;
      seen.set(key, event.lastEventId + event.data);
      for (const fn of listeners) fn(update);
      refreshOpenCount();
    });
  }
  refreshOpenCount();
}

let countTimer = null;
/** The Alerts badge: open alerts, re-counted (debounced) after every streamed change. */
export function refreshOpenCount() {
  clearTimeout(countTimer);
  countTimer = setTimeout(async () => {
    const badge = document.getElementById('open-alerts');
    try {
      const res = await api('/v1/alerts?status=open&limit=1000');
      // Acknowledged alerts stay open until their signal recedes, but nobody needs to be told twice.
      const n = (Array.isArray(res) ? res : res.alerts || []).filter((a) => !a.acknowledgedAt).length;
      badge.textContent = String(n);
      badge.hidden = n === 0;
    } catch {
      badge.hidden = true;
    }
  }, 150);
}
