// One uPlot chart: a watched latent's (or direction's) value over steps, the baseline band, and alert
// markers where alerts opened and resolved. uPlot draws on a canvas, so the same facts are mirrored in
// the DOM (data-points on the chart, one [data-alert-step] element per marker) for people using assistive
// technology and for the end-to-end tests.
import uPlot from '/assets/vendor/uplot.esm.js';
import { esc, num } from './util.js';

const COLORS = { line: '#1f6feb', band: 'rgba(46, 160, 67, 0.14)', bandEdge: 'rgba(46, 160, 67, 0.55)' };
const MARKER = { opened: '#e5484d', resolved: '#2e9e5b' };

/**
 * @param {HTMLElement} host
 * @param {{steps:number[], values:(number|null)[], bandLo?:(number|null)[], bandHi?:(number|null)[],
 *   markers:{step:number, kind:'opened'|'resolved', severity?:string, rule?:string, alertId?:string}[],
 *   yLabel?:string, onPick?:(step:number)=>void, selected?:number|null}} spec
 */
export function lineChart(host, spec) {
  const { steps, values, markers } = spec;
  const hasBand = Boolean(spec.bandLo && spec.bandHi);
  host.dataset.points = String(steps.length);
  host.dataset.alertMarkers = String(markers.length);

  const plotEl = document.createElement('div');
  plotEl.className = 'plot';
  const list = document.createElement('ul');
  list.className = 'markers';
  list.innerHTML = markers.length
    ? markers
        .map(
          (m) =>
            `<li data-alert-step="${m.step}" data-alert-kind="${esc(m.kind)}" data-alert-id="${esc(m.alertId ?? '')}"` +
            ` class="marker marker-${esc(m.kind)}">` +
            `${m.kind === 'opened' ? '▲' : '▼'} ${esc(m.kind)} at step ${m.step}` +
            `${m.severity ? ` <span class="pill pill-${esc(m.severity)}">${esc(m.severity)}</span>` : ''}` +
            `${m.rule ? ` <span class="muted">${esc(m.rule)}</span>` : ''}</li>`,
        )
        .join('')
    : '<li class="muted">no alerts</li>';
  host.replaceChildren(plotEl, list);

  let selected = spec.selected ?? null;
  const drawMarkers = (u) => {
    const { ctx } = u;
    const top = u.bbox.top;
    const bottom = u.bbox.top + u.bbox.height;
    ctx.save();
    ctx.lineWidth = 2 * uPlot.pxRatio;
    for (const m of markers) {
      const x = Math.round(u.valToPos(m.step, 'x', true));
      if (x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1) continue;
      ctx.strokeStyle = MARKER[m.kind] ?? '#888';
      ctx.setLineDash(m.kind === 'resolved' ? [6 * uPlot.pxRatio, 4 * uPlot.pxRatio] : []);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      // A flag at the top, so a marker is visible even where it sits on top of the line.
      const s = 6 * uPlot.pxRatio;
      ctx.setLineDash([]);
      ctx.fillStyle = MARKER[m.kind] ?? '#888';
      ctx.beginPath();
      if (m.kind === 'opened') {
        ctx.moveTo(x, top);
        ctx.lineTo(x + 2 * s, top + s);
        ctx.lineTo(x, top + 2 * s);
      } else {
        ctx.moveTo(x, bottom);
        ctx.lineTo(x + 2 * s, bottom - s);
        ctx.lineTo(x, bottom - 2 * s);
      }
      ctx.closePath();
      ctx.fill();
    }
    if (selected !== null) {
      const x = Math.round(u.valToPos(selected, 'x', true));
      ctx.strokeStyle = 'rgba(0,0,0,0.35)';
      ctx.setLineDash([2 * uPlot.pxRatio, 3 * uPlot.pxRatio]);
      ctx.lineWidth = uPlot.pxRatio;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
    }
    ctx.restore();
  };

  const series = [
    { label: 'step' },
    {
      label: spec.yLabel ?? 'mean',
      stroke: COLORS.line,
      width: 2,
      points: { show: steps.length <= 60, size: 5 },
      value: (_u, v) => num(v),
    },
  ];
  const data = [steps, values];
  if (hasBand) {
    series.push(
      {
        label: 'baseline hi',
        stroke: COLORS.bandEdge,
        width: 1,
        dash: [4, 4],
        points: { show: false },
        value: (_u, v) => num(v),
      },
      {
        label: 'baseline lo',
        stroke: COLORS.bandEdge,
        width: 1,
        dash: [4, 4],
        points: { show: false },
        value: (_u, v) => num(v),
      },
    );
    data.push(spec.bandHi, spec.bandLo);
  }

  const width = () => Math.max(280, plotEl.clientWidth || host.clientWidth || 600);
  const u = new uPlot(
    {
      width: width(),
      height: spec.height ?? 200,
      scales: { x: { time: false } },
      axes: [
        { label: 'step', size: 36, labelSize: 14, grid: { stroke: '#eef0f3' } },
        { size: 56, grid: { stroke: '#eef0f3' }, values: (_u, ticks) => ticks.map((t) => num(t, 2)) },
      ],
      series,
      bands: hasBand ? [{ series: [2, 3], fill: COLORS.band }] : [],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      hooks: { draw: [drawMarkers] },
    },
    data,
    plotEl,
  );
  if (spec.onPick) {
    u.over.style.cursor = 'pointer';
    u.over.addEventListener('click', () => {
      const idx = u.cursor.idx;
      if (idx !== null && idx !== undefined) spec.onPick(steps[idx]);
    });
  }
  const resize = new ResizeObserver(() => u.setSize({ width: width(), height: spec.height ?? 200 }));
  resize.observe(plotEl);
  return {
    select(step) {
      selected = step;
      u.redraw(false);
    },
    destroy() {
      resize.disconnect();
      u.destroy();
    },
  };
}
