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
  return { type: String(type || 'updated').replace(/^alert\./, ''), alert, eventId: data.eventId };
}

let started = false;
export function startLive() {
  if (started) return;
  started = true;
  window.addEventListener('sentinel:key', connect);
  connect();
  refreshOpenCount();
}

// Event ids already handled: EventSource resends from Last-Event-ID after a reconnect, and a server may
// name one event twice. Bounded, so a tab left open for days does not grow without end.
const seen = new Set();
function firstTime(id) {
  if (!id) return true;
  if (seen.has(id)) return false;
  seen.add(id);
  if (seen.size > 2000) seen.delete(seen.values().next().value);
  return true;
}

function connect() {
  if (source) source.close();
  const indicator = document.getElementById('live');
  const set = (state, text) => {
    indicator.dataset.state = state;
    indicator.textContent = text;
  };
  const es = stream('/v1/alerts/stream');
  source = es;
  es.onopen = () => set('live', '● live');
  es.onerror = () => set(es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting', 'reconnecting…');
  for (const name of EVENT_NAMES) {
    es.addEventListener(name, (event) => {
      const update = normalize(name, event.data);
      if (!update || !firstTime(event.lastEventId || update.eventId)) return;
      for (const fn of listeners) fn(update);
      refreshOpenCount();
    });
  }
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
