// SAEs and watchlists: every registered SAE; for one, its watched latents (add or remove a labelled
// latent) and directions. The API replaces a watchlist as a whole (PUT), so every edit sends the full list.
import { api } from '../api.js';
import { loadSae, loadSaes } from '../data.js';
import { errorBox, esc, when } from '../util.js';

export async function renderSaes(root, [saeId]) {
  const saes = await loadSaes();
  root.innerHTML = `
    <section class="toolbar"><h1>SAEs &amp; watchlists</h1></section>
    <div class="split saes">
      <section class="card"><header><h2>Registered SAEs</h2></header>
        ${
          saes.length
            ? `<table class="compact" id="sae-table"><thead><tr><th>name</th><th>architecture</th><th class="num">d_in</th><th class="num">d_sae</th><th>registered</th></tr></thead><tbody>${saes
                .map(
                  (s) => `<tr data-sae-id="${esc(s.id)}" class="${s.id === saeId ? 'selected' : ''}">
                  <td><a href="#/saes/${encodeURIComponent(s.id)}">${esc(s.name)}</a></td><td>${esc(s.architecture)}${s.k ? ` (k=${s.k})` : ''}</td>
                  <td class="num">${s.dIn ?? '–'}</td><td class="num">${s.dSae ?? '–'}</td><td class="small">${when(s.createdAt)}</td></tr>`,
                )
                .join('')}</tbody></table>`
            : '<p class="empty">No SAEs registered yet (<code>POST /v1/saes</code>).</p>'
        }
      </section>
      <section class="card" id="watchlist">${saeId ? '<p class="muted">Loading…</p>' : '<p class="muted">Pick an SAE to see and edit its watchlist.</p>'}</section>
    </div>`;
  if (!saeId) {
    if (saes.length === 1) window.location.hash = `#/saes/${encodeURIComponent(saes[0].id)}`;
    return null;
  }
  const panel = root.querySelector('#watchlist');
  let sae;
  try {
    sae = await loadSae(saeId);
  } catch (err) {
    panel.innerHTML = errorBox(err);
    return null;
  }

  function draw(message = '') {
    const { latents, directions } = sae.watchlist;
    panel.innerHTML = `
      <header><h2>Watchlist of ${esc(sae.name)}</h2></header>
      ${message}
      <table class="compact" id="watch-latents"><thead><tr><th class="num">latent</th><th>label</th><th></th></tr></thead><tbody>
        ${
          latents.length
            ? [...latents]
                .sort((a, b) => a.index - b.index)
                .map(
                  (l) => `<tr data-latent="${l.index}"><td class="num">${l.index}</td><td>${esc(l.label)}</td>
                  <td><button type="button" class="link danger" data-remove="${l.index}" aria-label="remove latent ${l.index}">Remove</button></td></tr>`,
                )
                .join('')
            : '<tr><td colspan="3" class="empty">No watched latents.</td></tr>'
        }
      </tbody></table>
      <form id="add-latent" class="inline-form">
        <label>Latent <input name="index" type="number" min="0" max="${sae.dSae ? sae.dSae - 1 : ''}" step="1" required placeholder="index" /></label>
        <label>Label <input name="label" type="text" required maxlength="200" placeholder="e.g. toxic persona" /></label>
        <button type="submit">Add latent</button>
      </form>
      <h3>Directions</h3>
      ${
        directions.length
          ? `<ul class="directions">${directions
              .map(
                (d) =>
                  `<li data-direction="${esc(d.name)}"><b>${esc(d.name)}</b> <span class="muted">${Array.isArray(d.vector) ? `${d.vector.length}-dim` : ''}</span></li>`,
              )
              .join('')}</ul>`
          : '<p class="muted">No persona directions.</p>'
      }
      <p class="muted small">Directions are registered through the API (<code>PUT /v1/saes/:id/watchlist</code>) with their vectors.</p>`;
  }

  async function save(latents, message) {
    const body = {
      latents: latents.map((l) => ({
        index: l.index,
        label: l.label,
        ...(l.rules ? { rules: l.rules } : {}),
      })),
      directions: sae.watchlist.directions.map((d) => ({
        name: d.name,
        vector: d.vector,
        ...(d.rules ? { rules: d.rules } : {}),
      })),
    };
    panel.querySelectorAll('button, input').forEach((el) => (el.disabled = true));
    try {
      await api(`/v1/saes/${encodeURIComponent(saeId)}/watchlist`, { method: 'PUT', body });
      sae = await loadSae(saeId);
      draw(`<p class="notice" role="status">${esc(message)}</p>`);
    } catch (err) {
      draw(errorBox(err));
    }
  }

  panel.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.target;
    const index = Number(form.index.value);
    const label = form.label.value.trim();
    if (!Number.isInteger(index) || index < 0 || !label) return;
    const latents = sae.watchlist.latents.filter((l) => l.index !== index);
    const replaced = latents.length !== sae.watchlist.latents.length;
    save([...latents, { index, label }], `${replaced ? 'Relabelled' : 'Added'} latent ${index} (${label}).`);
  });
  panel.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-remove]');
    if (!button) return;
    const index = Number(button.dataset.remove);
    save(
      sae.watchlist.latents.filter((l) => l.index !== index),
      `Removed latent ${index}.`,
    );
  });
  draw();
  return null;
}
