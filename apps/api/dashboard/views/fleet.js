// Fleet: every run with its status, the latest delta of each watched target as a heat-map row, filters
// by project and model, riskiest first (critical > warning > watch > ok, then the largest latest delta).
import { loadAlerts, loadDrift, loadRuns, loadSaes, loadTargets } from '../data.js';
import { onAlert } from '../live.js';
import {
  errorBox,
  esc,
  hashParams,
  heat,
  num,
  pill,
  setHashParams,
  signed,
  STATUS_RANK,
  STATUSES,
  targetText,
  worst,
} from '../util.js';

export async function renderFleet(root) {
  const params = hashParams();
  const filters = {
    project: params.get('project') ?? '',
    model: params.get('model') ?? '',
    status: params.get('status') ?? '',
    q: params.get('q') ?? '',
  };
  root.innerHTML = `
    <section class="toolbar">
      <h1>Fleet</h1>
      <label>Project <select name="project"><option value="">all</option></select></label>
      <label>Model <select name="model"><option value="">all</option></select></label>
      <label>Status <select name="status"><option value="">all</option>${STATUSES.map((s) => `<option>${s}</option>`).join('')}</select></label>
      <label>Run <input name="q" type="search" placeholder="name contains…" value="${esc(filters.q)}" /></label>
      <span class="summary" id="fleet-summary"></span>
    </section>
    <div id="fleet-body"><p class="muted">Loading runs…</p></div>`;
  const body = root.querySelector('#fleet-body');
  const summary = root.querySelector('#fleet-summary');
  let state = null;
  // The riskiest rows first, a few hundred at a time: laying out a 1,000-row table costs a second on a
  // slow laptop, and the runs that need a look are at the top anyway.
  const PAGE = 250;
  let limit = PAGE;

  async function load() {
    const [runs, saes, openAlerts] = await Promise.all([
      loadRuns(),
      loadSaes(),
      loadAlerts({ status: 'open' }),
    ]);
    const targets = await loadTargets(saes);
    const drifts = await Promise.all(targets.map((t) => loadDrift(t).catch(() => new Map())));
    const alertsByRun = new Map();
    for (const a of openAlerts) {
      if (!alertsByRun.has(a.runId)) alertsByRun.set(a.runId, []);
      alertsByRun.get(a.runId).push(a);
    }
    const rows = runs.map((run) => {
      const cells = targets.map((t, i) => drifts[i].get(run.id) ?? null);
      const open = alertsByRun.get(run.id) ?? [];
      const status = worst(...cells.map((c) => c?.status), ...open.map((a) => a.severity));
      const deltas = cells.map((c) => c?.delta).filter((d) => typeof d === 'number');
      const maxDelta = deltas.length ? Math.max(...deltas) : null;
      const step = Math.max(-1, ...cells.map((c) => c?.step ?? c?.latestStep ?? -1));
      return { run, cells, open, status, maxDelta, step: step >= 0 ? step : null };
    });
    // Columns are coloured on their own scale: latents and directions live on very different ranges.
    const scales = targets.map((_, i) => Math.max(0, ...rows.map((r) => Math.abs(r.cells[i]?.delta ?? 0))));
    state = { runs, targets, rows, scales };
    fillOptions('project', [...new Set(runs.map((r) => r.project))].sort());
    fillOptions('model', [...new Set(runs.map((r) => r.model))].sort());
    draw();
  }

  function fillOptions(name, values) {
    const select = root.querySelector(`select[name=${name}]`);
    select.innerHTML =
      '<option value="">all</option>' + values.map((v) => `<option>${esc(v)}</option>`).join('');
    select.value = values.includes(filters[name]) ? filters[name] : '';
  }

  function draw() {
    const { targets, rows, scales } = state;
    const q = filters.q.toLowerCase();
    const shown = rows
      .filter(
        (r) =>
          (!filters.project || r.run.project === filters.project) &&
          (!filters.model || r.run.model === filters.model) &&
          (!q ||
            String(r.run.name ?? '')
              .toLowerCase()
              .includes(q)),
      )
      .sort(
        (a, b) =>
          STATUS_RANK[b.status] - STATUS_RANK[a.status] ||
          (b.maxDelta ?? -Infinity) - (a.maxDelta ?? -Infinity) ||
          String(a.run.name).localeCompare(String(b.run.name)),
      );
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    for (const r of shown) counts[r.status] += 1;
    const visible = filters.status ? shown.filter((r) => r.status === filters.status) : shown;
    summary.innerHTML = STATUSES.map(
      (s) =>
        `<button type="button" class="count count-${s}" data-status="${s}" aria-pressed="${filters.status === s}">${counts[s]} ${s}</button>`,
    ).join('');
    if (rows.length === 0) {
      body.innerHTML =
        '<p class="empty">No runs yet. Training jobs register runs with <code>POST /v1/runs</code>.</p>';
      return;
    }
    const head = targets
      .map(
        (t) =>
          `<th class="heat-col" data-target="${esc(t.key)}" title="${esc(t.label ?? '')} (${esc(t.key)})"><span>${esc(targetText(t, t.label))}</span></th>`,
      )
      .join('');
    const html = visible
      .slice(0, limit)
      .map((r) => {
        const cells = r.cells
          .map((c, i) => {
            if (!c)
              return `<td class="heat none" data-target="${esc(targets[i].key)}" title="not watched or no data">·</td>`;
            const title = `${targets[i].label ?? targets[i].key}: Δ ${signed(c.delta)}${c.t !== undefined ? `, t ${num(c.t)}` : ''}${c.p !== undefined ? `, p ${num(c.p)}` : ''}${c.step !== undefined ? ` at step ${c.step}` : ''} (${c.status ?? '?'})`;
            return `<td class="heat heat-${esc(c.status ?? 'ok')}" data-target="${esc(targets[i].key)}" style="background:${heat(c.delta, scales[i])}" title="${esc(title)}" data-delta="${c.delta ?? ''}">${signed(c.delta, 2)}</td>`;
          })
          .join('');
        return `<tr data-run-id="${esc(r.run.id)}" data-status="${r.status}">
          <td>${pill(r.status)}</td>
          <td class="name"><a href="#/runs/${encodeURIComponent(r.run.id)}">${esc(r.run.name ?? r.run.id)}</a></td>
          <td>${esc(r.run.project)}</td>
          <td class="model">${esc(r.run.model)}</td>
          <td class="num">${r.step ?? '–'}</td>
          <td class="num">${r.open.length ? `<a href="#/alerts?runId=${encodeURIComponent(r.run.id)}">${r.open.length}</a>` : ''}</td>
          ${cells}
        </tr>`;
      })
      .join('');
    body.innerHTML = `
      <p class="muted legend">${visible.length} of ${rows.length} runs${visible.length > limit ? ` (the riskiest ${limit} shown)` : ''} · cells: latest Δ from baseline of each watched target (red rising, blue falling; hover for the statistic)</p>
      <div class="table-wrap"><table class="fleet" id="fleet-table" style="min-width:${40 + 6.5 * targets.length}rem">
        <colgroup><col style="width:6.5rem" /><col /><col style="width:8rem" /><col style="width:11rem" />
          <col style="width:4.5rem" /><col style="width:4.5rem" />${targets.map(() => '<col style="width:6.5rem" />').join('')}</colgroup>
        <thead><tr><th>status</th><th>run</th><th>project</th><th>model</th><th class="num">step</th><th class="num" title="open alerts">alerts</th>${head}</tr></thead>
        <tbody>${html || `<tr><td colspan="${6 + targets.length}" class="empty">No run matches the filters.</td></tr>`}</tbody>
        ${visible.length > limit ? `<tfoot><tr><td colspan="${6 + targets.length}" class="more"><button type="button" id="fleet-more">Show ${Math.min(PAGE, visible.length - limit)} more of ${visible.length - limit} (riskiest first)</button></td></tr></tfoot>` : ''}
      </table></div>`;
  }

  function onFilter(event) {
    const el = event.target;
    if (!(el.name in filters)) return;
    filters[el.name] = el.value;
    setHashParams('/fleet', filters);
    if (state) draw();
  }
  root.querySelector('.toolbar').addEventListener('change', onFilter);
  root.querySelector('.toolbar').addEventListener('input', onFilter);
  summary.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-status]');
    if (!button) return;
    filters.status = filters.status === button.dataset.status ? '' : button.dataset.status;
    root.querySelector('select[name=status]').value = filters.status;
    setHashParams('/fleet', filters);
    draw();
  });
  root.querySelector('select[name=status]').value = filters.status;
  // A whole row is a link (the name is the keyboard-reachable one).
  body.addEventListener('click', (event) => {
    if (event.target.closest('#fleet-more')) {
      limit += PAGE;
      draw();
      return;
    }
    if (event.target.closest('a')) return;
    const tr = event.target.closest('tr[data-run-id]');
    if (tr) window.location.hash = `#/runs/${encodeURIComponent(tr.dataset.runId)}`;
  });

  try {
    await load();
  } catch (err) {
    body.innerHTML = errorBox(err);
  }
  // Statuses change when alerts open or resolve: reload, at most every few seconds however busy the
  // stream is (a reload is 2 + SAEs + targets requests), and never two at once.
  const MIN_GAP_MS = 5000;
  let timer = null;
  let lastLoad = Date.now();
  const off = onAlert(() => {
    if (timer) return;
    timer = setTimeout(
      async () => {
        try {
          await load();
        } catch (err) {
          body.innerHTML = errorBox(err);
        }
        lastLoad = Date.now();
        timer = null;
      },
      Math.max(400, lastLoad + MIN_GAP_MS - Date.now()),
    );
  });
  return () => {
    off();
    clearTimeout(timer);
  };
}
