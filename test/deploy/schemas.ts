/**
 * Validates rendered objects offline against the Kubernetes OpenAPI schemas and the CRD schemas of
 * KEDA, CloudNativePG and the Prometheus operator, as compiled into the `kubernetes-models` packages
 * (the 4.x line and its matching @kubernetes-models/* releases: the newer ones need Node 22).
 *
 * The schemas, like the API server's, do not forbid unknown fields, so a misspelt `readinessProbes`
 * would pass them; the API server drops such a field (or, with strict field validation, rejects it).
 * checkUnknownFields finds them: the compiled validators read every declared property of an object
 * by name and enumerate the keys only of maps, so an own key that validation never read, in an object
 * it read by name, is a field the schema does not have.
 */
import type { K8sObject } from './kustomize.js';

interface ModelClass {
  new (data: object): { validate(): void };
  prototype: { validate(): void };
}

const CRD_PACKAGES: Record<string, string> = {
  'keda.sh': '@kubernetes-models/keda/keda.sh',
  'postgresql.cnpg.io': '@kubernetes-models/cloudnative-pg/postgresql.cnpg.io',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator/monitoring.coreos.com',
};

async function modelFor(apiVersion: string, kind: string): Promise<ModelClass> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const specifier = CRD_PACKAGES[group]
    ? `${CRD_PACKAGES[group]}/${version}`
    : group === ''
      ? `kubernetes-models/${version}`
      : `kubernetes-models/${group}/${version}`;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`no schema package for ${apiVersion} (${specifier}): ${(err as Error).message}`, {
      cause: err,
    });
  }
  const model = mod[kind] as ModelClass | undefined;
  if (!model) throw new Error(`${specifier} has no model for kind ${kind}`);
  return model;
}

interface Tracked {
  path: string;
  target: Record<string, unknown>;
  read: Set<string>;
  enumerated: boolean;
}

/** A deep proxy that records which keys of each object the validator reads or enumerates. */
function tracking(value: object, path: string, log: Tracked[]): object {
  const entry: Tracked = {
    path,
    target: value as Record<string, unknown>,
    read: new Set(),
    enumerated: false,
  };
  if (!Array.isArray(value)) log.push(entry);
  const children = new Map<string, object>();
  return new Proxy(value, {
    get(target, key, receiver) {
      const result = Reflect.get(target, key, receiver) as unknown;
      if (typeof key !== 'string') return result;
      entry.read.add(key);
      if (typeof result === 'object' && result !== null && Object.hasOwn(target, key)) {
        let child = children.get(key);
        if (!child) {
          child = tracking(result, `${path}/${key}`, log);
          children.set(key, child);
        }
        return child;
      }
      return result;
    },
    ownKeys(target) {
      entry.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

export interface SchemaResult {
  object: string;
  errors: string[];
}

/** Schema errors and unknown fields of one object; an empty list when it is valid. */
export async function validateObject(o: K8sObject): Promise<string[]> {
  const Model = await modelFor(o.apiVersion, o.kind);
  const model = new Model(structuredClone(o));
  try {
    model.validate();
  } catch (err) {
    return [(err as Error).message];
  }
  const log: Tracked[] = [];
  Model.prototype.validate.call(tracking(model, '', log) as typeof model);
  const unknown: string[] = [];
  for (const t of log) {
    if (t.enumerated || t.read.size === 0) continue;
    for (const key of Object.keys(t.target)) {
      if (!t.read.has(key)) unknown.push(`unknown field ${t.path}/${key}`);
    }
  }
  return unknown;
}

export function describe(o: K8sObject): string {
  return `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}
