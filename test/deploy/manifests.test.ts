// Renders every kustomization under k8s/ offline and validates each object against the Kubernetes and
// CRD schemas (KEDA, CloudNativePG, Prometheus operator); where a kustomize v5 binary is installed, its
// output must equal this renderer's.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe as suite, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { configMapHash, findKustomize, renderKustomization, repoRoot, type K8sObject } from './kustomize.js';
import { describe, validateObject } from './schemas.js';

const root = repoRoot(dirname(fileURLToPath(import.meta.url)));
const KUSTOMIZATIONS = ['k8s/base', 'k8s/overlays/dev', 'k8s/overlays/prod'];

function tryRun(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 20_000,
    });
  } catch {
    return null;
  }
}

const key = (o: K8sObject) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

for (const dir of KUSTOMIZATIONS) {
  suite(dir, () => {
    const objects = renderKustomization(join(root, dir));

    test('renders, every object valid against its schema with no unknown fields', async () => {
      assert.ok(objects.length > 0);
      const problems: string[] = [];
      for (const o of objects) {
        for (const error of await validateObject(o)) problems.push(`${describe(o)}: ${error}`);
      }
      assert.deepEqual(problems, []);
    });

    test('object names are unique and every namespaced object is in `sentinel`', () => {
      const keys = objects.map(key);
      assert.equal(new Set(keys).size, keys.length, `duplicates in ${keys.join(', ')}`);
      for (const o of objects) {
        if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'sentinel', describe(o));
      }
    });

    test('equals the output of kustomize v5, where one is installed', (t) => {
      const kustomize = findKustomize(tryRun);
      if (!kustomize) {
        t.skip(
          'no kustomize v5 (`kustomize` or `kubectl kustomize`) on PATH: rendered by kustomize.ts alone',
        );
        return;
      }
      const [cmd, ...args] = kustomize;
      const output = execFileSync(cmd, [...args, join(root, dir)], { encoding: 'utf8', timeout: 30_000 });
      const theirs = parseAllDocuments(output).map((d) => d.toJS() as K8sObject);
      const mine = new Map(objects.map((o) => [key(o), o]));
      assert.deepEqual([...mine.keys()].sort(), theirs.map(key).sort());
      for (const o of theirs) {
        assert.ok(
          isDeepStrictEqual(mine.get(key(o)), o),
          `${describe(o)} differs from ${kustomize.join(' ')}`,
        );
      }
    });
  });
}

suite('kustomize.ts', () => {
  test('the ConfigMap hash suffix is kustomize v5.5.0 output', () => {
    // Recorded from `kubectl kustomize` (kustomize v5.5.0) on a configMapGenerator with these literals.
    assert.equal(configMapHash({ LOG_LEVEL: 'info', NATS_URL: 'nats://nats:4222' }), 'b5bkc6699d');
    assert.equal(
      configMapHash({ LOG_LEVEL: 'info', NATS_URL: 'nats://nats:4222', X: '<a&b>' }),
      '2h86md5td9',
    );
  });

  test('a kustomization field outside the supported subset is an error, not silently ignored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-kustomize-'));
    try {
      mkdirSync(join(dir, 'k'));
      writeFileSync(join(dir, 'k/kustomization.yaml'), 'namePrefix: x-\nresources: []\n');
      assert.throws(() => renderKustomization(join(dir, 'k')), /namePrefix.*outside the subset/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the unknown-field check catches a misspelt probe', async () => {
    const [deployment] = renderKustomization(join(root, 'k8s/base')).filter((o) => o.kind === 'Deployment');
    const pod = (deployment.spec as { template: { spec: { containers: Record<string, unknown>[] } } })
      .template.spec;
    pod.containers[0].readinesProbe = pod.containers[0].readinessProbe;
    delete pod.containers[0].readinessProbe;
    assert.deepEqual(await validateObject(deployment), [
      'unknown field /spec/template/spec/containers/0/readinesProbe',
    ]);
  });
});
