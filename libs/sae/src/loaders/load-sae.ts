/**
 * loadSae: an SAE from a folder or file on disk, in any of the formats Sentinel accepts, auto-detected
 * from the file names; loadSaeFromFiles: the same from files already in memory (an upload).
 *
 *   cfg.json + sae_weights.safetensors → SAELens      cfg.json + sae.safetensors → sparsify
 *   params.npz                         → Gemma Scope
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SaeFormatError } from '../errors.js';
import { memorySource, openFileSource, type ByteSource, type FileSource } from '../formats/byte-source.js';
import { type Sae, type SaeFormat } from '../types.js';
import { assembleSae } from './assemble.js';
import { parseCfgJson, parseSaeLensCfg, parseSparsifyCfg } from './cfg.js';
import { npzStore, safetensorsStore } from './tensor-store.js';

export const SAE_FORMATS: readonly SaeFormat[] = ['saelens', 'sparsify', 'gemma-scope'];

/** The files each format needs, by name inside the SAE's folder. */
export const FORMAT_FILES: Readonly<Record<SaeFormat, readonly string[]>> = {
  saelens: ['cfg.json', 'sae_weights.safetensors'],
  sparsify: ['cfg.json', 'sae.safetensors'],
  'gemma-scope': ['params.npz'],
};

const EXPECTED =
  'cfg.json + sae_weights.safetensors (SAELens), cfg.json + sae.safetensors (sparsify) or params.npz (Gemma Scope)';

/** Which format a set of file names is, or undefined. */
export function detectSaeFormat(names: Iterable<string>): SaeFormat | undefined {
  const have = new Set(names);
  return SAE_FORMATS.find((f) => FORMAT_FILES[f].every((n) => have.has(n)));
}

/** Loads from files in memory, keyed by file name ("cfg.json", "sae_weights.safetensors", …). */
export async function loadSaeFromFiles(
  files: Map<string, Uint8Array>,
  format?: SaeFormat,
  source = 'upload',
): Promise<Sae> {
  const sources = new Map<string, ByteSource>();
  for (const [name, bytes] of files) sources.set(name, memorySource(`${source}/${name}`, bytes));
  return loadSaeFromSources(sources, format, source);
}

/**
 * Loads an SAE from a folder (or one of its files, or a Gemma Scope .npz). Only the tensors encoding needs
 * are read from disk.
 */
export async function loadSae(path: string, format?: SaeFormat): Promise<Sae> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new SaeFormatError(
      path,
      `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const paths = new Map<string, string>();
  let where = path;
  if (info.isDirectory()) {
    for (const name of await readdir(path)) paths.set(name, join(path, name));
    if (!detectSaeFormat(paths.keys()) && !format) await refuseFolder(path, [...paths.keys()]);
  } else {
    const name = basename(path);
    if (name.endsWith('.npz')) {
      paths.set('params.npz', path);
      format ??= 'gemma-scope';
    } else {
      // A file of a folder-based SAE: load its folder.
      where = dirname(path);
      for (const n of await readdir(where)) paths.set(n, join(where, n));
      if (name === 'sae_weights.safetensors') format ??= 'saelens';
      else if (name === 'sae.safetensors') format ??= 'sparsify';
      else if (name !== 'cfg.json') {
        throw new SaeFormatError(path, 'is not an SAE file', {
          expected: `a folder with ${EXPECTED}, or a .npz`,
        });
      }
    }
  }
  const chosen = format ?? detectSaeFormat(paths.keys());
  const opened: FileSource[] = [];
  try {
    const sources = new Map<string, ByteSource>();
    for (const name of chosen ? FORMAT_FILES[chosen] : []) {
      const p = paths.get(name);
      if (p) {
        const src = await openFileSource(p);
        opened.push(src);
        sources.set(name, src);
      }
    }
    return await loadSaeFromSources(sources, chosen, where);
  } finally {
    await Promise.all(opened.map((s) => s.close()));
  }
}

/** A folder that holds no SAE: say what was found, and point into sparsify's per-hookpoint subfolders. */
async function refuseFolder(path: string, names: string[]): Promise<never> {
  const nested: string[] = [];
  for (const name of names.sort()) {
    const sub = join(path, name);
    if ((await stat(sub)).isDirectory() && detectSaeFormat(await readdir(sub))) nested.push(name);
  }
  if (nested.length) {
    throw new SaeFormatError(path, `holds ${nested.length} SAEs in subfolders (${nested.join(', ')})`, {
      expected: 'the path of one of them',
    });
  }
  throw new SaeFormatError(path, `has no SAE (files: ${names.length ? names.sort().join(', ') : 'none'})`, {
    expected: EXPECTED,
  });
}

/**
 * Loads from byte sources keyed by file name (what loadSae and loadSaeFromFiles both come down to): only
 * headers and the tensors encoding needs are read.
 */
export async function loadSaeFromSources(
  sources: Map<string, ByteSource>,
  format?: SaeFormat,
  where = 'sae',
): Promise<Sae> {
  const chosen = format ?? detectSaeFormat(sources.keys());
  if (!chosen) {
    const names = [...sources.keys()].sort();
    throw new SaeFormatError(where, `has no SAE (files: ${names.length ? names.join(', ') : 'none'})`, {
      expected: EXPECTED,
    });
  }
  if (!SAE_FORMATS.includes(chosen)) {
    throw new SaeFormatError(where, `format "${String(chosen)}" is unknown`, {
      expected: SAE_FORMATS.join(', '),
    });
  }
  for (const name of FORMAT_FILES[chosen]) {
    if (!sources.has(name)) {
      throw new SaeFormatError(where, `has no ${name}`, {
        expected: `${FORMAT_FILES[chosen].join(' + ')} for format ${chosen}`,
      });
    }
  }
  const cfgOf = async (src: ByteSource) =>
    parseCfgJson(await src.read(0, Math.min(src.size, 10_000_001)), src.name);
  if (chosen === 'saelens') {
    const cfg = parseSaeLensCfg(await cfgOf(sources.get('cfg.json')!), sources.get('cfg.json')!.name);
    const store = await safetensorsStore(sources.get('sae_weights.safetensors')!);
    return assembleSae(store, {
      format: 'saelens',
      ...cfg,
      source: where,
      names: { wEnc: 'W_enc', bEnc: 'b_enc', bDec: 'b_dec', wDec: 'W_dec', threshold: 'threshold' },
      encoderLayout: 'in_sae',
    });
  }
  if (chosen === 'sparsify') {
    const cfg = parseSparsifyCfg(await cfgOf(sources.get('cfg.json')!), sources.get('cfg.json')!.name);
    const store = await safetensorsStore(sources.get('sae.safetensors')!);
    return assembleSae(store, {
      format: 'sparsify',
      architecture: 'topk',
      k: cfg.k,
      kOrigin: 'cfg.json field "k"',
      applyBDecToInput: cfg.applyBDecToInput,
      normalizeActivations: 'none',
      dIn: cfg.dIn,
      dSae: cfg.dSae,
      source: where,
      names: { wEnc: 'encoder.weight', bEnc: 'encoder.bias', bDec: 'b_dec', wDec: 'W_dec' },
      encoderLayout: 'sae_in',
    });
  }
  const store = await npzStore(sources.get('params.npz')!);
  // SAELens renames Gemma Scope's lower-case "w_enc"/"w_dec" spellings; accept both.
  const pick = (upper: string) =>
    store.tensors.has(upper) ? upper : store.tensors.has(upper.toLowerCase()) ? upper.toLowerCase() : upper;
  return assembleSae(store, {
    format: 'gemma-scope',
    architecture: 'jumprelu',
    applyBDecToInput: false,
    normalizeActivations: 'none',
    source: where,
    names: { wEnc: pick('W_enc'), bEnc: 'b_enc', bDec: 'b_dec', wDec: pick('W_dec'), threshold: 'threshold' },
    encoderLayout: 'in_sae',
  });
}
