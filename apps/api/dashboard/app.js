// The dashboard shell: hash routes (#/fleet, #/runs/:id, #/alerts, #/saes, #/saes/:id) to views. A view is
// `render(main, params) → cleanup`; the cleanup runs when the route changes (closes charts, listeners).
import { adoptKeyFromUrl } from './api.js';
import { startLive } from './live.js';
import { errorBox } from './util.js';
import { renderFleet } from './views/fleet.js';
import { renderRun } from './views/run.js';
import { renderAlerts } from './views/alerts.js';
import { renderSaes } from './views/saes.js';

const ROUTES = [
  { pattern: /^\/fleet$/, nav: 'fleet', view: renderFleet },
  { pattern: /^\/runs\/([^/]+)$/, nav: 'fleet', view: renderRun },
  { pattern: /^\/alerts$/, nav: 'alerts', view: renderAlerts },
  { pattern: /^\/saes(?:\/([^/]+))?$/, nav: 'saes', view: renderSaes },
];

let cleanup = null;
let lastPath = null;
let renders = 0;

async function route() {
  const hash = window.location.hash.replace(/^#/, '') || '/fleet';
  const path = hash.split('?')[0];
  // Views rewrite their own query (filters) with replaceState; that fires no hashchange, but guard anyway.
  if (path === lastPath && cleanup) return;
  lastPath = path;
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  if (!match) {
    window.location.hash = '#/fleet';
    return;
  }
  if (cleanup) cleanup();
  cleanup = null;
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === match.r.nav);
  }
  const main = document.getElementById('view');
  main.dataset.view = match.r.nav;
  // Each render gets a fresh element: a slow view that finishes after the user moved on writes into a
  // detached node, and its cleanup runs at once instead of replacing the newer view's.
  const root = document.createElement('div');
  root.className = 'view';
  root.innerHTML = '<p class="muted">Loading…</p>';
  main.replaceChildren(root);
  const token = ++renders;
  try {
    const done =
      (await match.r.view(
        root,
        match.m.slice(1).map((p) => p && decodeURIComponent(p)),
      )) || null;
    if (token === renders) cleanup = done;
    else if (done) done();
  } catch (err) {
    if (token === renders) root.innerHTML = errorBox(err);
  }
}

adoptKeyFromUrl();
window.addEventListener('hashchange', () => {
  lastPath = null;
  route();
});
startLive();
route();
