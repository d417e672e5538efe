// Run: one chart per watched latent or direction (value over steps, baseline band, alert markers), the
// latents that rose most at a chosen step, and the evaluations with their status and timings.
import { api } from '../api.js';
import { lineChart } from '../chart.js';
import { loadAlerts, loadEvaluations, loadTopLatents, loadTrend } from '../data.js';
import { onAlert } from '../live.js';
import { errorBox, esc, ms, num, pill, signed, targetKey, targetText, when, worst } from '../util.js';

/** Where the series says what its baseline is, use it; otherwise derive it from mean − delta. */
function baselineBand(series) {
  const pts = series.points;
  const b = series.baseline;
  if (b && typeof b.mean === 'number') {
    const spread = b.std ?? b.sd ?? b.stddev;
    const lo = b.lo ?? b.low ?? (typeof spread === 'number' ? b.mean - 2 * spread : null);
    const hi = b.hi ?? b.high ?? (typeof spread === 'number' ? b.mean + 2 * spread : null);
    if (lo !== null && hi !== null) return { lo: pts.map(() => lo), hi: pts.map(() => hi), mean: b.mean };
  }
  // Per point: baseline mean = mean − delta, ±2 standard errors of the paired difference (the trend's se,
  // or delta / t when only the statistic is given): inside the band, the change is within noise.
  const lo = [];
  const hi = [];
  let any = false;
  for (const p of pts) {
    if (typeof p.mean !== 'number' || typeof p.delta !== 'number') {
      lo.push(null);
      hi.push(null);
      continue;
    }
    const base = p.mean - p.delta;
    const se =
      typeof p.se === 'number'
        ? p.se
        : typeof p.t === 'number' && p.t !== 0 && p.delta !== 0
          ? Math.abs(p.delta / p.t)
          : 0;
    lo.push(base - 2 * se);
    hi.push(base + 2 * se);
    any = true;
  }
  return any ? { lo, hi } : null;
}

function markersFor(series, alerts) {
  const key = targetKey(
    series.kind === 'direction'
      ? { kind: 'direction', name: series.name }
      : { kind: 'latent', index: series.index },
  );
  const own =
    Array.isArray(series.alerts) && series.alerts.length
      ? series.alerts
      : alerts.filter((a) => targetKey(a.target) === key);
  const seen = new Set();
  const markers = [];
  for (const a of own) {
    if (seen.has(a.id)) continue;
    seen.add(a.id);
    if (typeof a.openedAtStep === 'number')
      markers.push({
        step: a.openedAtStep,
        kind: 'opened',
        severity: a.severity,
        rule: a.rule,
        alertId: a.id,
      });
    if (typeof a.resolvedAtStep === 'number')
      markers.push({
        step: a.resolvedAtStep,
        kind: 'resolved',
        severity: a.severity,
        rule: a.rule,
        alertId: a.id,
      });
  }
  return markers.sort((x, y) => x.step - y.step);
}

export async function renderRun(root, [runId]) {
  const run = await api(`/v1/runs/${encodeURIComponent(runId)}`);
  root.innerHTML = `
    <section class="toolbar run-head">
      <a href="#/fleet" class="back">← Fleet</a>
      <h1 id="run-name">${esc(run.name ?? run.id)}</h1>
      <span id="run-status"></span>
      <span class="meta">project <b>${esc(run.project)}</b> · model <b>${esc(run.model)}</b> · SAE
        <a href="#/saes/${encodeURIComponent(run.saeId ?? '')}">${esc(run.saeName ?? run.sae?.name ?? String(run.saeId ?? '').slice(0, 8))}</a>
        · baseline ${run.baselineRunId ? `run ${esc(String(run.baselineRunId).slice(0, 8))} ` : ''}step ${run.baselineStep ?? 'first'}</span>
    </section>
    <section class="charts" id="charts"><p class="muted">Loading trend…</p></section>
    <div class="split">
      <section class="card" id="top">
        <header><h2>Top rising latents</h2>
          <label>at step <select name="step" id="step-select"></select></label></header>
        <div id="top-body"><p class="muted">Pick a step (or click a chart).</p></div>
      </section>
      <section class="card" id="evaluations">
        <header><h2>Evaluations</h2></header>
        <div id="eval-body"><p class="muted">Loading…</p></div>
      </section>
    </div>`;
  const chartsEl = root.querySelector('#charts');
  const stepSelect = root.querySelector('#step-select');
  let charts = [];
  let selectedStep = null;
  let topRequest = 0;

  async function showTop(step) {
    selectedStep = step;
    stepSelect.value = String(step);
    for (const c of charts) c.select(step);
    const el = root.querySelector('#top-body');
    const mine = ++topRequest;
    el.innerHTML = '<p class="muted">Loading…</p>';
    try {
      const res = await loadTopLatents(runId, step);
      if (mine !== topRequest) return;
      const latents = res.latents ?? [];
      const scale = Math.max(1e-12, ...latents.map((l) => Math.abs(l.delta ?? 0)));
      el.innerHTML = latents.length
        ? `<table class="compact" id="top-table"><thead><tr><th class="num">latent</th><th>label</th><th class="num">mean</th><th class="num">baseline</th><th class="num">Δ</th><th></th></tr></thead><tbody>${latents
            .map(
              (
                l,
              ) => `<tr data-latent="${l.index}"><td class="num">${l.index}</td><td>${esc(l.label ?? '')}</td>
                <td class="num">${num(l.mean)}</td><td class="num">${num(l.baselineMean)}</td><td class="num">${signed(l.delta)}</td>
                <td class="bar-cell"><span class="bar ${l.delta < 0 ? 'neg' : ''}" style="width:${Math.round((100 * Math.abs(l.delta ?? 0)) / scale)}%"></span></td></tr>`,
            )
            .join('')}</tbody></table>`
        : `<p class="empty">No latent statistics at step ${esc(res.step ?? step)}.</p>`;
    } catch (err) {
      if (mine === topRequest) el.innerHTML = errorBox(err);
    }
  }
  stepSelect.addEventListener('change', () => showTop(Number(stepSelect.value)));

  async function loadCharts() {
    const [series, alerts] = await Promise.all([loadTrend(runId), loadAlerts({ runId })]);
    const open = alerts.filter((a) => a.status === 'open');
    root.querySelector('#run-status').innerHTML = pill(worst(...open.map((a) => a.severity)));
    for (const c of charts) c.destroy();
    charts = [];
    if (!series.length) {
      chartsEl.innerHTML =
        '<p class="empty">No watched latents or directions for this run’s SAE yet, or no finished evaluation.</p>';
      return [];
    }
    chartsEl.innerHTML = '';
    for (const s of series) {
      const pts = [...(s.points ?? [])].sort((a, b) => a.step - b.step);
      s.points = pts;
      const target =
        s.kind === 'direction' ? { kind: 'direction', name: s.name } : { kind: 'latent', index: s.index };
      const last = pts[pts.length - 1];
      const card = document.createElement('article');
      card.className = 'card chart-card';
      card.dataset.series = targetKey(target);
      card.innerHTML = `<header><h2>${esc(targetText(target, s.label))}</h2>
        <span class="meta">${last ? `step ${last.step}: ${num(last.mean)} (Δ ${signed(last.delta)}${typeof last.p === 'number' ? `, p ${num(last.p, 2)}` : ''})` : 'no points yet'}</span></header>
        <div class="chart" data-series="${esc(targetKey(target))}"></div>`;
      chartsEl.append(card);
      const band = baselineBand(s);
      charts.push(
        lineChart(card.querySelector('.chart'), {
          steps: pts.map((p) => p.step),
          values: pts.map((p) => p.mean),
          bandLo: band?.lo,
          bandHi: band?.hi,
          markers: markersFor(s, alerts),
          yLabel: s.kind === 'direction' ? 'projection' : 'mean activation',
          onPick: showTop,
          selected: selectedStep,
        }),
      );
    }
    return series;
  }

  function drawEvals(evals) {
    const el = root.querySelector('#eval-body');
    el.innerHTML = evals.length
      ? `<table class="compact" id="eval-table"><thead><tr><th class="num">step</th><th>status</th><th>backend</th><th class="num">total</th><th>timings</th><th>finished</th></tr></thead><tbody>${evals
          .map((e) => {
            const t = e.timings ?? {};
            const total =
              t.totalMs ??
              t.total ??
              Object.values(t).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0);
            // Top-level phases only (download, saeLoad, parse, encode…); nested ones like engine.encode
            // repeat a phase's inside and go to the tooltip with everything else.
            const parts = Object.entries(t)
              .filter(([k]) => !/^total/.test(k) && !k.includes('.'))
              .map(([k, v]) => `<span>${esc(k.replace(/Ms$/, ''))} ${ms(v)}</span>`)
              .join(' · ');
            return `<tr data-eval-id="${esc(e.id)}" data-status="${esc(e.status)}"><td class="num">${e.step}</td>
              <td>${pill(e.status)}${e.error ? ` <span class="error-text" title="${esc(e.error)}">${esc(String(e.error).slice(0, 60))}</span>` : ''}</td>
              <td title="${esc(e.adapter ?? '')}">${esc(e.backend ?? '–')}</td>
              <td class="num">${Object.keys(t).length ? ms(total) : '–'}</td>
              <td class="timings" title="${esc(
                Object.entries(t)
                  .map(([k, v]) => `${k} ${ms(v)}`)
                  .join('\n'),
              )}">${parts || '–'}</td><td>${when(e.finishedAt)}</td></tr>`;
          })
          .join('')}</tbody></table>`
      : '<p class="empty">No checkpoints uploaded yet.</p>';
  }

  async function loadEvals() {
    const evals = [...(await loadEvaluations(runId, run))].sort((a, b) => b.step - a.step);
    const steps = evals.filter((e) => e.status === 'done').map((e) => e.step);
    const keep = selectedStep;
    stepSelect.innerHTML = steps.map((s) => `<option value="${s}">${s}</option>`).join('');
    if (keep !== null) stepSelect.value = String(keep);
    drawEvals(evals);
    return { evals, steps };
  }

  // New alerts for this run redraw its charts in place; evaluations still queued are polled until done.
  let timer = null;
  const off = onAlert(({ alert }) => {
    if (alert.runId !== runId) return;
    clearTimeout(timer);
    timer = setTimeout(() => loadCharts().catch((err) => (chartsEl.innerHTML = errorBox(err))), 300);
  });
  const [seriesResult, evalResult] = await Promise.allSettled([loadCharts(), loadEvals()]);
  if (seriesResult.status === 'rejected') chartsEl.innerHTML = errorBox(seriesResult.reason);
  if (evalResult.status === 'rejected')
    root.querySelector('#eval-body').innerHTML = errorBox(evalResult.reason);
  const steps = evalResult.status === 'fulfilled' ? evalResult.value.steps : [];
  if (steps.length) showTop(Math.max(...steps));

  const poll = setInterval(async () => {
    if (!root.querySelector('#eval-table [data-status=queued], #eval-table [data-status=running]')) return;
    try {
      await loadEvals();
      await loadCharts();
    } catch {
      // the next tick retries; a lasting failure shows on reload
    }
  }, 5000);
  return () => {
    off();
    clearTimeout(timer);
    clearInterval(poll);
    for (const c of charts) c.destroy();
  };
}
