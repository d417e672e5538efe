// Alerts: the current list, then a live feed from the alert stream (new and changed alerts appear at the
// top without a reload), with acknowledge.
import { api } from '../api.js';
import { loadAlerts, loadRuns, loadSaes, loadTargets } from '../data.js';
import { onAlert } from '../live.js';
import {
  errorBox,
  esc,
  hashParams,
  num,
  pill,
  setHashParams,
  signed,
  targetKey,
  targetText,
  when,
} from '../util.js';

// Acknowledging does not close an alert (it stays open until the signal recedes); it only records who saw it.
const STATUS_FILTERS = ['open', 'resolved'];
const SEVERITIES = ['critical', 'warning', 'watch'];

/**
 * The evidence in one line: the latest statistic ({latest, opened, peak} as the detectors record it, or a
 * flat object), and the peak when it was elsewhere. The full JSON is in the cell's tooltip.
 */
function evidenceText(evidence) {
  if (!evidence || typeof evidence !== 'object') return '';
  const at = evidence.latest ?? evidence.opened ?? evidence;
  const parts = [];
  if (typeof at.delta === 'number') parts.push(`Δ ${signed(at.delta)}`);
  if (typeof at.z === 'number') parts.push(`z ${num(at.z, 2)}`);
  if (typeof at.p === 'number') parts.push(`p ${num(at.p, 2)}`);
  if (typeof at.step === 'number') parts.push(`at step ${at.step}`);
  const peak = evidence.peak;
  if (peak && typeof peak.delta === 'number' && peak.step !== at.step) {
    parts.push(`peak Δ ${signed(peak.delta)} at ${peak.step}`);
  }
  return parts.join(' · ');
}

export async function renderAlerts(root) {
  const params = hashParams();
  const filters = {
    status: params.get('status') ?? 'open',
    severity: params.get('severity') ?? '',
    runId: params.get('runId') ?? '',
  };
  root.innerHTML = `
    <section class="toolbar">
      <h1>Alerts</h1>
      <label>Status <select name="status"><option value="">all</option>${STATUS_FILTERS.map((s) => `<option>${s}</option>`).join('')}</select></label>
      <label>Severity <select name="severity"><option value="">all</option>${SEVERITIES.map((s) => `<option>${s}</option>`).join('')}</select></label>
      ${filters.runId ? `<span class="chip">run ${esc(filters.runId.slice(0, 8))} <a href="#/alerts?status=${esc(filters.status)}" title="all runs">×</a></span>` : ''}
      <span class="muted">new alerts appear here as they open</span>
    </section>
    <div id="alerts-body"><p class="muted">Loading…</p></div>`;
  root.querySelector('select[name=status]').value = filters.status;
  root.querySelector('select[name=severity]').value = filters.severity;
  const body = root.querySelector('#alerts-body');
  const runNames = new Map();
  const labels = new Map(); // target key → label from the watchlists
  let alerts = [];

  const matches = (a) =>
    (!filters.status || a.status === filters.status) &&
    (!filters.severity || a.severity === filters.severity) &&
    (!filters.runId || a.runId === filters.runId);

  function row(a, highlight = false) {
    const run = runNames.get(a.runId);
    return `<tr data-alert-id="${esc(a.id)}" data-status="${esc(a.status)}" class="${highlight ? 'fresh' : ''}">
      <td>${pill(a.severity)}</td>
      <td><a href="#/runs/${encodeURIComponent(a.runId)}">${esc(run?.name ?? String(a.runId).slice(0, 8))}</a>
        ${run ? `<div class="muted small">${esc(run.project)} · ${esc(run.model)}</div>` : ''}</td>
      <td>${esc(a.target ? targetText(a.target, a.target.label ?? labels.get(targetKey(a.target))) : '')}</td>
      <td>${esc(a.rule)}</td>
      <td class="num">${a.openedAtStep ?? '–'}</td>
      <td class="num">${a.resolvedAtStep ?? ''}</td>
      <td class="status-cell">${esc(a.status)}${a.acknowledgedAt ? `<div class="small muted" data-acknowledged="true">ack ${esc(a.acknowledgedBy ?? '')} ${when(a.acknowledgedAt)}</div>` : ''}</td>
      <td class="small evidence" title="${esc(JSON.stringify(a.evidence ?? {}, null, 1))}">${esc(evidenceText(a.evidence))}</td>
      <td class="small" title="${esc(a.openedAt ?? '')}">${when(a.openedAt ?? a.createdAt)}</td>
      <td>${a.status === 'open' && !a.acknowledgedAt ? `<button type="button" class="ack" data-ack="${esc(a.id)}">Acknowledge</button>` : ''}</td>
    </tr>`;
  }

  // Alerts that arrived over the stream in the last few seconds are highlighted (each redraw re-renders).
  const fresh = new Map();
  function draw() {
    const now = Date.now();
    const shown = alerts.filter(matches);
    body.innerHTML = shown.length
      ? `<div class="table-wrap"><table class="compact" id="alerts-table"><thead><tr><th>severity</th><th>run</th><th>target</th><th>rule</th>
          <th class="num">opened at step</th><th class="num">resolved at</th><th>status</th><th>evidence</th><th>opened</th><th></th></tr></thead>
          <tbody>${shown.map((a) => row(a, now - (fresh.get(a.id) ?? 0) < 3000)).join('')}</tbody></table></div>`
      : `<p class="empty" id="alerts-empty">No ${esc(filters.status || '')} alerts${filters.severity ? ` of severity ${esc(filters.severity)}` : ''}.</p>`;
  }

  async function load() {
    const [list, runs, targets] = await Promise.all([
      loadAlerts({ status: filters.status, severity: filters.severity, runId: filters.runId }),
      loadRuns().catch(() => []),
      labels.size
        ? null
        : loadSaes()
            .then(loadTargets)
            .catch(() => []),
    ]);
    for (const r of runs) runNames.set(r.id, r);
    for (const t of targets ?? []) labels.set(t.key, t.label);
    alerts = list;
    draw();
  }

  root.querySelector('.toolbar').addEventListener('change', (event) => {
    if (!(event.target.name in filters)) return;
    filters[event.target.name] = event.target.value;
    setHashParams('/alerts', filters);
    load().catch((err) => (body.innerHTML = errorBox(err)));
  });
  body.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-ack]');
    if (!button) return;
    button.disabled = true;
    button.textContent = 'Acknowledging…';
    try {
      const updated = await api(`/v1/alerts/${encodeURIComponent(button.dataset.ack)}/ack`, {
        method: 'POST',
        body: {},
      });
      upsert(
        updated && updated.id
          ? updated
          : { ...alerts.find((a) => a.id === button.dataset.ack), acknowledgedAt: new Date().toISOString() },
      );
    } catch (err) {
      button.disabled = false;
      button.textContent = 'Acknowledge';
      body.insertAdjacentHTML('afterbegin', errorBox(err));
    }
  });

  function upsert(alert, isFresh = false) {
    const i = alerts.findIndex((a) => a.id === alert.id);
    if (i >= 0) alerts[i] = { ...alerts[i], ...alert };
    else alerts.unshift(alert);
    if (isFresh) fresh.set(alert.id, Date.now());
    draw();
  }

  // Subscribe before the first load, so an alert streamed while the list is loading is not lost: it is
  // held and merged once the list is there.
  let held = [];
  const off = onAlert(async ({ alert }) => {
    if (!runNames.has(alert.runId)) {
      try {
        const run = await api(`/v1/runs/${encodeURIComponent(alert.runId)}`);
        runNames.set(run.id, run);
      } catch {
        // the row shows the run id instead of its name
      }
    }
    if (held) held.push(alert);
    else upsert(alert, true);
  });
  try {
    await load();
  } catch (err) {
    body.innerHTML = errorBox(err);
  }
  for (const alert of held) upsert(alert, true);
  held = null;
  return off;
}
