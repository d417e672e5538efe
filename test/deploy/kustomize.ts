/**
 * A small kustomize renderer for the subset of kustomize that k8s/ uses, so that the manifests can be
 * rendered and checked on a machine without the kustomize binary (none is packaged for Debian
 * bookworm; `kubernetes-client` 1.20 embeds kustomize 2.0, which predates `labels` and `patches`).
 * When a kustomize v5 is on PATH (`kustomize` or `kubectl kustomize`), test/deploy compares this
 * renderer's output with it object by object.
 *
 * Supported, and nothing else (an unknown field or directive throws, so k8s/ cannot drift past it):
 * - resources: YAML files (several documents each) and directories holding a kustomization
 * - namespace: on every namespaced object
 * - labels: [{ pairs }] on metadata.labels only (no includeSelectors / includeTemplates)
 * - configMapGenerator: literals, `behavior: merge` in overlays, kustomize's content-hash suffix,
 *   and the references to it in pod specs rewritten to the hashed name
 * - images: name → newName / newTag / digest in containers and initContainers
 * - patches: strategic merge (target found from the patch's kind and name; null deletes a field;
 *   lists merge by key for the Kubernetes fields below, others are replaced) and JSON 6902
 *   (add / remove / replace) with a `target` of kind and name
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Generated ConfigMaps keep their plain name until the end, when the hash suffix is added. */
interface Rendered {
  objects: K8sObject[];
  generated: Set<K8sObject>;
}

const KUSTOMIZATION_FIELDS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'labels',
  'resources',
  'configMapGenerator',
  'images',
  'patches',
]);

/** Kinds that have no namespace (the ones a kustomization here could plausibly hold). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
]);

/** API groups whose objects get strategic-merge semantics; anything else (CRDs) gets JSON merge. */
const NATIVE_GROUPS = new Set(['', 'apps', 'batch', 'autoscaling', 'policy', 'networking.k8s.io']);

/**
 * patchMergeKey of the Kubernetes list fields a patch here may touch (from the API's OpenAPI
 * `x-kubernetes-patch-merge-key`); lists not named here are replaced whole, as kustomize does.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  imagePullSecrets: 'name',
};

export function renderKustomization(dir: string): K8sObject[] {
  const rendered = renderDir(resolve(dir));
  return finishGenerated(rendered);
}

function renderDir(dir: string): Rendered {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
    .map((f) => join(dir, f))
    .find((f) => existsSync(f));
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const k = parseYaml(readFileSync(file, 'utf8')) as JsonObject;
  for (const field of Object.keys(k)) {
    if (!KUSTOMIZATION_FIELDS.has(field)) {
      throw new Error(`${file}: "${field}" is outside the subset test/deploy/kustomize.ts renders`);
    }
  }

  const out: Rendered = { objects: [], generated: new Set() };
  for (const entry of (k.resources ?? []) as string[]) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      const sub = renderDir(path);
      out.objects.push(...sub.objects);
      for (const g of sub.generated) out.generated.add(g);
    } else {
      out.objects.push(...readObjects(path));
    }
  }

  for (const gen of (k.configMapGenerator ?? []) as JsonObject[]) generateConfigMap(file, gen, out);
  for (const patch of (k.patches ?? []) as JsonObject[]) applyPatch(dir, patch, out.objects);
  if (typeof k.namespace === 'string') {
    for (const o of out.objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  for (const entry of (k.labels ?? []) as JsonObject[]) {
    for (const key of Object.keys(entry)) {
      if (key !== 'pairs') throw new Error(`${file}: labels.${key} is not supported`);
    }
    const pairs = entry.pairs as Record<string, string>;
    for (const o of out.objects) o.metadata.labels = { ...(o.metadata.labels ?? {}), ...pairs };
  }
  for (const image of (k.images ?? []) as JsonObject[]) setImage(image, out.objects);
  return out;
}

export function readObjects(path: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${path}: ${doc.errors[0].message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value === null) continue;
    if (!value.apiVersion || !value.kind || !value.metadata?.name) {
      throw new Error(`${path}: a document without apiVersion, kind or metadata.name`);
    }
    objects.push(value);
  }
  return objects;
}

function generateConfigMap(file: string, gen: JsonObject, out: Rendered): void {
  for (const key of Object.keys(gen)) {
    if (!['name', 'literals', 'behavior'].includes(key)) {
      throw new Error(`${file}: configMapGenerator.${key} is not supported`);
    }
  }
  const data: Record<string, string> = {};
  for (const literal of (gen.literals ?? []) as string[]) {
    const eq = literal.indexOf('=');
    if (eq < 1) throw new Error(`${file}: literal "${literal}" is not KEY=VALUE`);
    data[literal.slice(0, eq)] = literal.slice(eq + 1);
  }
  const name = gen.name as string;
  const behavior = (gen.behavior as string | undefined) ?? 'create';
  const existing = [...out.generated].find((o) => o.metadata.name === name);
  if (behavior === 'create') {
    if (existing) throw new Error(`${file}: ConfigMap ${name} already exists (use behavior: merge)`);
    const cm: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
    out.objects.push(cm);
    out.generated.add(cm);
  } else if (behavior === 'merge' || behavior === 'replace') {
    if (!existing) throw new Error(`${file}: no generated ConfigMap ${name} to ${behavior}`);
    existing.data = behavior === 'merge' ? { ...(existing.data as object), ...data } : data;
  } else {
    throw new Error(`${file}: configMapGenerator behavior "${behavior}" is not supported`);
  }
}

/**
 * kustomize's name suffix for a generated ConfigMap (api/hasher): the first 10 hex digits of the
 * SHA-256 of Go's json.Marshal of {data, kind, name}, with 0,1,3,a,e swapped for g,h,k,m,t. The
 * name is hashed as "" because kustomize looks it up with the one-element path "metadata/name".
 */
export function configMapHash(data: Record<string, string>): string {
  const sorted = Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : 1)));
  const encoded = goJson({ data: sorted, kind: 'ConfigMap', name: '' });
  const hex = createHash('sha256').update(encoded).digest('hex').slice(0, 10);
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return hex.replace(/[013ae]/g, (c) => swap[c]);
}

/** JSON as Go's encoding/json writes it: HTML-significant characters and U+2028/9 escaped. */
function goJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function finishGenerated(rendered: Rendered): K8sObject[] {
  const renames = new Map<string, string>();
  for (const cm of rendered.generated) {
    const hashed = `${cm.metadata.name}-${configMapHash(cm.data as Record<string, string>)}`;
    renames.set(`${cm.metadata.namespace ?? ''}/${cm.metadata.name}`, hashed);
    cm.metadata.name = hashed;
  }
  for (const o of rendered.objects) {
    if (rendered.generated.has(o)) continue;
    rewriteConfigMapRefs(o, o.metadata.namespace ?? '', renames);
  }
  return rendered.objects;
}

/** The fields through which a pod reaches a ConfigMap by name. */
function rewriteConfigMapRefs(node: unknown, namespace: string, renames: Map<string, string>): void {
  if (Array.isArray(node)) {
    for (const item of node) rewriteConfigMapRefs(item, namespace, renames);
    return;
  }
  if (!isObject(node)) return;
  for (const [key, value] of Object.entries(node)) {
    if (['configMapRef', 'configMapKeyRef', 'configMap'].includes(key) && isObject(value)) {
      const renamed = renames.get(`${namespace}/${value.name as string}`);
      if (renamed) value.name = renamed;
    }
    rewriteConfigMapRefs(value, namespace, renames);
  }
}

function applyPatch(dir: string, spec: JsonObject, objects: K8sObject[]): void {
  for (const key of Object.keys(spec)) {
    if (!['path', 'patch', 'target'].includes(key)) throw new Error(`patches[].${key} is not supported`);
  }
  const text =
    typeof spec.path === 'string' ? readFileSync(join(dir, spec.path), 'utf8') : (spec.patch as string);
  if (typeof text !== 'string') throw new Error(`${dir}: a patch needs path or patch`);
  const parsed = parseAllDocuments(text).map((d) => d.toJS() as Json);
  const target = spec.target as JsonObject | undefined;

  if (parsed.length === 1 && Array.isArray(parsed[0])) {
    if (!target) throw new Error(`${dir}: a JSON 6902 patch needs a target`);
    for (const key of Object.keys(target)) {
      if (!['kind', 'name'].includes(key)) throw new Error(`patches[].target.${key} is not supported`);
    }
    const matches = objects.filter((o) => o.kind === target.kind && o.metadata.name === target.name);
    if (matches.length !== 1) throw new Error(`${dir}: patch target ${target.kind}/${target.name} not found`);
    for (const op of parsed[0] as JsonObject[]) jsonPatch(matches[0] as unknown as JsonObject, op);
    return;
  }
  if (target) throw new Error(`${dir}: strategic-merge patches with a target are not supported`);
  for (const patch of parsed) {
    if (!isObject(patch)) continue;
    const meta = patch.metadata as JsonObject;
    const matches = objects.filter(
      (o) => o.kind === patch.kind && o.apiVersion === patch.apiVersion && o.metadata.name === meta?.name,
    );
    if (matches.length !== 1) {
      throw new Error(`${dir}: patch target ${patch.kind as string}/${meta?.name as string} not found`);
    }
    const group = String(patch.apiVersion).includes('/') ? String(patch.apiVersion).split('/')[0] : '';
    merge(matches[0] as unknown as JsonObject, patch, NATIVE_GROUPS.has(group));
  }
}

/** Strategic merge (native kinds) or JSON merge patch (CRDs): maps merge, null deletes. */
function merge(target: JsonObject, patch: JsonObject, strategic: boolean): void {
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) throw new Error(`patch directive ${key} is not supported`);
    if (value === null) {
      delete target[key];
    } else if (isObject(value) && isObject(target[key])) {
      merge(target[key] as JsonObject, value, strategic);
    } else if (strategic && Array.isArray(value) && Array.isArray(target[key]) && MERGE_KEYS[key]) {
      const mergeKey = MERGE_KEYS[key];
      const list = target[key] as JsonObject[];
      for (const item of value as JsonObject[]) {
        const found = list.find((t) => t[mergeKey] === item[mergeKey]);
        if (found) merge(found, item, strategic);
        else list.push(structuredClone(item));
      }
    } else {
      target[key] = structuredClone(value);
    }
  }
}

function jsonPatch(doc: JsonObject, op: JsonObject): void {
  const path = String(op.path)
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = path.pop();
  if (last === undefined) throw new Error('a JSON patch cannot replace the whole object');
  let parent: Json = doc;
  for (const p of path) {
    parent = Array.isArray(parent) ? parent[Number(p)] : (parent as JsonObject)?.[p];
    if (parent === undefined) throw new Error(`JSON patch path ${String(op.path)} does not exist`);
  }
  if (op.op !== 'add' && op.op !== 'remove' && op.op !== 'replace') {
    throw new Error(`JSON patch op "${String(op.op)}" is not supported`);
  }
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    if (op.op !== 'add' && !(index < parent.length))
      throw new Error(`JSON patch path ${String(op.path)} does not exist`);
    if (op.op === 'add') parent.splice(index, 0, structuredClone(op.value));
    else if (op.op === 'replace') parent[index] = structuredClone(op.value);
    else parent.splice(index, 1);
    return;
  }
  const object = parent as JsonObject;
  if (op.op !== 'add' && !(last in object))
    throw new Error(`JSON patch path ${String(op.path)} does not exist`);
  if (op.op === 'remove') delete object[last];
  else object[last] = structuredClone(op.value);
}

/** Splits `registry:5000/a/b:tag@sha256:…` into name, tag and digest. */
export function parseImage(image: string): { name: string; tag?: string; digest?: string } {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/'))
    return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  return { name: rest, digest };
}

function setImage(entry: JsonObject, objects: K8sObject[]): void {
  for (const key of Object.keys(entry)) {
    if (!['name', 'newName', 'newTag', 'digest'].includes(key))
      throw new Error(`images[].${key} is not supported`);
  }
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!isObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'containers' || key === 'initContainers') && Array.isArray(value)) {
        for (const c of value as JsonObject[]) {
          const image = parseImage(String(c.image));
          if (image.name !== entry.name) continue;
          const name = (entry.newName as string | undefined) ?? image.name;
          if (entry.digest) c.image = `${name}@${String(entry.digest)}`;
          else {
            const tag = (entry.newTag as string | undefined) ?? image.tag;
            c.image = `${name}${tag ? `:${tag}` : ''}${image.digest && !entry.newTag ? `@${image.digest}` : ''}`;
          }
        }
      }
      visit(value);
    }
  };
  visit(objects);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** kustomize v5 on PATH, as an argv prefix (`kustomize build` or `kubectl kustomize`), or null. */
export function findKustomize(run: (cmd: string, args: string[]) => string | null): string[] | null {
  const standalone = run('kustomize', ['version']);
  if (standalone && /v5\./.test(standalone)) return ['kustomize', 'build'];
  const kubectl = run('kubectl', ['version', '--client']);
  if (kubectl && /Kustomize Version: v5\./.test(kubectl)) return ['kubectl', 'kustomize'];
  return null;
}

/** Where the repository's k8s/ folder is, from the compiled test's location. */
export function repoRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'k8s'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no repository root above ${from}`);
    dir = up;
  }
  return dir;
}
