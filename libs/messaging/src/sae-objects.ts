import { createHash } from 'node:crypto';
import { type ObjectStore } from '@nats-io/obj';

/** The files of one SAE as the object store holds them: `<prefix>manifest.json` lists the others. */
export interface SaeManifest {
  files: { name: string; size: number; sha256: string }[];
}

const MANIFEST = 'manifest.json';
const CHUNK_BYTES = 1024 * 1024;

/**
 * Stores an SAE's files (cfg.json, weights, …) under `saes/<id>/`, the manifest last, so a reader that
 * finds the manifest finds every file it names. Returns the prefix (the row's object_key), the total size
 * and a sha256 over the files in manifest order.
 */
export async function writeSaeFiles(
  bucket: ObjectStore,
  saeId: string,
  files: { name: string; bytes: Uint8Array }[],
): Promise<{ objectKey: string; sizeBytes: number; sha256: string }> {
  const prefix = `saes/${saeId}/`;
  const manifest: SaeManifest = { files: [] };
  const whole = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    await bucket.putBlob({ name: prefix + f.name, options: { max_chunk_size: CHUNK_BYTES } }, f.bytes);
    whole.update(f.bytes);
    manifest.files.push({
      name: f.name,
      size: f.bytes.byteLength,
      sha256: createHash('sha256').update(f.bytes).digest('hex'),
    });
  }
  await bucket.putBlob({ name: prefix + MANIFEST }, new TextEncoder().encode(JSON.stringify(manifest)));
  return {
    objectKey: prefix,
    sizeBytes: manifest.files.reduce((n, f) => n + f.size, 0),
    sha256: whole.digest('hex'),
  };
}

/** Reads every file of an SAE back; null when its manifest is missing. */
export async function readSaeFiles(
  bucket: ObjectStore,
  objectKey: string,
): Promise<Map<string, Uint8Array> | null> {
  const raw = await bucket.getBlob(objectKey + MANIFEST);
  if (!raw) return null;
  const manifest = JSON.parse(new TextDecoder().decode(raw)) as SaeManifest;
  const out = new Map<string, Uint8Array>();
  for (const f of manifest.files) {
    const bytes = await bucket.getBlob(objectKey + f.name);
    if (!bytes || bytes.byteLength !== f.size) {
      throw new Error(`SAE file ${objectKey + f.name} is missing or has the wrong size in the object store`);
    }
    out.set(f.name, bytes);
  }
  return out;
}

/** Deletes an SAE's files (a registration that failed after storing them). */
export async function deleteSaeFiles(bucket: ObjectStore, objectKey: string, names: string[]): Promise<void> {
  for (const name of [...names, MANIFEST]) await bucket.delete(objectKey + name).catch(() => undefined);
}

/** Reads a whole object into one buffer allocated at its final size; null when it does not exist. */
export async function readObject(bucket: ObjectStore, name: string): Promise<Uint8Array | null> {
  const result = await bucket.get(name);
  if (!result) return null;
  const out = new Uint8Array(result.info.size);
  let at = 0;
  const reader = result.data.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.set(value, at);
    at += value.byteLength;
  }
  const err = await result.error;
  if (err) throw err;
  if (at !== out.byteLength) throw new Error(`object ${name}: read ${at} of ${out.byteLength} bytes`);
  return out;
}
