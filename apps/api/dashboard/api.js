// Every request the dashboard makes goes through here, so it carries the same credentials as any other
// API client: an API key given once as `?key=…` in the page URL (or typed into the prompt a 401 brings
// up) is kept in localStorage and sent as `Authorization: Bearer <key>` on every fetch. EventSource cannot
// set headers, so the alert stream gets the key as a `?key=` query parameter, which the API accepts there
// only. With AUTH_REQUIRED=false no key is needed and none is sent.

const KEY_STORAGE = 'sentinel.apiKey';

/** Moves a `?key=` from the page URL into localStorage, so it does not linger in the address bar. */
export function adoptKeyFromUrl() {
  const url = new URL(window.location.href);
  const key = url.searchParams.get('key');
  if (!key) return;
  localStorage.setItem(KEY_STORAGE, key);
  url.searchParams.delete('key');
  history.replaceState(null, '', url.pathname + url.search + url.hash);
}

export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || null;
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let prompting = null;
/** One prompt at a time, however many requests failed with 401 together. */
function askForKey() {
  prompting ??= Promise.resolve().then(() => {
    const key = window.prompt('This Sentinel API needs an API key:');
    if (key) {
      localStorage.setItem(KEY_STORAGE, key.trim());
      // The alert stream carries the key in its URL: live.js reconnects with the new one.
      window.dispatchEvent(new Event('sentinel:key'));
    }
    prompting = null;
    return Boolean(key);
  });
  return prompting;
}

/** fetch + JSON with the API key, turning non-2xx answers into ApiError with the server's message. */
export async function api(path, { method = 'GET', body, signal, retried = false } = {}) {
  const headers = { Accept: 'application/json' };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  // A request sent before the key was typed in retries with it instead of asking again.
  if (res.status === 401 && !retried && (apiKey() !== key || (await askForKey()))) {
    return api(path, { method, body, signal, retried: true });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const message =
      (data && (Array.isArray(data.message) ? data.message.join('; ') : data.message)) || res.statusText;
    throw new ApiError(res.status, `${method} ${path}: ${res.status} ${message}`, data);
  }
  return data;
}

/** Builds a query string from the defined, non-empty values only. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** An EventSource on an API stream, with the key in the query string (headers are not possible). */
export function stream(path) {
  const key = apiKey();
  const url = new URL(path, window.location.origin);
  if (key) url.searchParams.set('key', key);
  return new EventSource(url.pathname + url.search);
}
