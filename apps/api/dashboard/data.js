// Loaders that turn the API's answers into what the views draw. Kept apart from the views so the shapes
// of /v1 answers are read in one place.
import { api, query } from './api.js';
import { targetKey } from './util.js';

/** A list out of an answer that is either the array itself or {<key>: array} / {items: array}. */
export function list(res, key) {
  if (Array.isArray(res)) return res;
  if (res && Array.isArray(res[key])) return res[key];
  if (res && Array.isArray(res.items)) return res.items;
  return [];
}

export async function loadSaes() {
  return list(await api('/v1/saes'), 'saes');
}

/** An SAE with its watchlist as {latents:[{index,label,rules?}], directions:[{name, vector, rules?}]}. */
export async function loadSae(id) {
  const path = `/v1/saes/${encodeURIComponent(id)}`;
  const [sae, wl] = await Promise.all([api(path), api(`${path}/watchlist`)]);
  return {
    ...sae,
    watchlist: {
      latents: list(wl.latents, 'latents').map((l) => ({ ...l, index: l.index ?? l.latentIndex })),
      directions: list(wl.directions, 'directions'),
    },
  };
}

/**
 * Every watched target across the SAEs, with its label: the fleet's heat-map columns. A latent index
 * means something only within one SAE, so runs are matched to targets by the fleet drift answer, which
 * lists only the runs whose SAE watches that target.
 */
export async function loadTargets(saes) {
  const detailed = await Promise.all(saes.map((s) => loadSae(s.id).catch(() => null)));
  const targets = new Map();
  for (const sae of detailed) {
    if (!sae) continue;
    for (const l of sae.watchlist.latents) {
      const t = { kind: 'latent', index: l.index };
      const key = targetKey(t);
      if (!targets.has(key)) targets.set(key, { key, ...t, label: l.label, saes: [] });
      targets.get(key).saes.push(sae.id);
    }
    for (const d of sae.watchlist.directions) {
      const t = { kind: 'direction', name: d.name };
      const key = targetKey(t);
      if (!targets.has(key)) targets.set(key, { key, ...t, label: d.label ?? d.name, saes: [] });
      targets.get(key).saes.push(sae.id);
    }
  }
  return [...targets.values()].sort((a, b) =>
    a.kind !== b.kind
      ? a.kind === 'latent'
        ? -1
        : 1
      : a.kind === 'latent'
        ? a.index - b.index
        : a.name.localeCompare(b.name),
  );
}

/** Every run's latest delta/statistic/status for one target: {runId → row}. */
export async function loadDrift(target, filters = {}) {
  const res = await api(
    `/v1/fleet/drift${query({
      target: target.key,
      project: filters.project,
      model: filters.model,
      // every run (the API's most); the fleet sorts by risk itself
      limit: 10000,
    })}`,
  );
  const rows = list(res, 'runs');
  const byRun = new Map();
  for (const r of rows) byRun.set(r.runId ?? r.id, r);
  return byRun;
}

export async function loadRuns(filters = {}) {
  return list(await api(`/v1/runs${query({ project: filters.project, model: filters.model })}`), 'runs');
}

export async function loadAlerts(filters = {}) {
  // The API answers 100 by default; 1000 is its most, enough for every open alert of a fleet.
  return list(await api(`/v1/alerts${query({ limit: 1000, ...filters })}`), 'alerts');
}

export async function loadTrend(runId) {
  const res = await api(`/v1/runs/${encodeURIComponent(runId)}/trend`);
  return list(res, 'series');
}

export async function loadTopLatents(runId, step) {
  return api(`/v1/runs/${encodeURIComponent(runId)}/top-latents${query({ step })}`);
}

export async function loadEvaluations(runId, run) {
  if (run && Array.isArray(run.evaluations)) return run.evaluations;
  return list(await api(`/v1/runs/${encodeURIComponent(runId)}/evaluations`), 'evaluations');
}
