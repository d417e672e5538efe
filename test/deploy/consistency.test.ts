// The deployment files must agree with the code: environment variable names with CONFIG_VARIABLES and
// loadConfig, ports and probe paths with what the apps serve, JetStream names with natsNames(), images
// with the Dockerfiles and package.json's entry points. Renaming something in one place only fails here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { suite, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import 'reflect-metadata';
import { DockerfileParser, type Env, type From } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { parse as parseYaml } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../libs/common/src/config/config.js';
import { natsNames } from '../../libs/messaging/src/names.js';
import {
  NATS_ACCOUNT,
  NATS_USERS,
  natsAccounts,
  natsConfText,
} from '../../libs/messaging/src/nats-permissions.js';
import { parseImage, renderKustomization, repoRoot, type K8sObject } from './kustomize.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = repoRoot(here);
/** The compiled tree this test runs from (dist/ or .build/<name>/). */
const compiled = join(here, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  scripts: Record<string, string>;
  bin?: Record<string, string>;
};

type Obj = Record<string, unknown>;
interface Container {
  name: string;
  image: string;
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } } & Obj;
  }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { limits?: Obj; requests?: Obj };
}
interface PodSpec {
  containers: Container[];
  nodeSelector?: Record<string, string>;
  tolerations?: Obj[];
  securityContext?: { runAsUser?: number; runAsNonRoot?: boolean };
}

/** k8s/helm/nats-values.yaml: the parts the tests read. */
const natsValues = parseYaml(read('k8s/helm/nats-values.yaml')) as {
  config: {
    cluster: { enabled: boolean; replicas: number };
    jetstream: { enabled: boolean; fileStore: { enabled: boolean }; merge: { sync_interval: string } };
    monitor: { enabled: boolean; port: number };
    merge: { accounts: unknown };
  };
  service: { ports: { monitor: { enabled: boolean } } };
  container: { env: Record<string, { valueFrom?: { secretKeyRef?: { name: string; key: string } } }> };
  natsBox: { container: { env: Record<string, unknown> } };
};

const overlays = {
  dev: renderKustomization(join(root, 'k8s/overlays/dev')),
  prod: renderKustomization(join(root, 'k8s/overlays/prod')),
};

function get(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `expected one ${kind}${name ? `/${name}` : ''}, found ${found.length}`);
  return found[0];
}
const spec = (o: K8sObject) => o.spec as Obj;
const podSpec = (o: K8sObject) => (spec(o).template as { spec: PodSpec }).spec;
const podLabels = (o: K8sObject) =>
  (spec(o).template as { metadata: { labels: Record<string, string> } }).metadata.labels;
const workloads = (objects: K8sObject[]) =>
  objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Job');

/**
 * A container's environment as the kubelet would build it: ConfigMaps, then `env` in order with
 * `$(NAME)` expanded from what came before. Secret values become stand-ins of the right shape.
 */
function containerEnv(objects: K8sObject[], c: Container) {
  const env: Record<string, string> = {};
  const secrets: Record<string, { name: string; key: string }> = {};
  /** Variables whose only use is inside another's `$(…)`. */
  const helpers = new Set<string>();
  const standIn: Record<string, string> = {
    // The shape of CloudNativePG's `uri` key.
    uri: 'postgresql://sentinel:secret@sentinel-pg-rw.sentinel:5432/sentinel',
    username: 'user',
    password: 'secret',
  };
  for (const from of c.envFrom ?? []) {
    assert.ok(from.configMapRef, `${c.name}: envFrom other than a ConfigMap is not expected`);
    Object.assign(env, get(objects, 'ConfigMap', from.configMapRef.name).data as Record<string, string>);
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.secretKeyRef) {
      secrets[e.name] = e.valueFrom.secretKeyRef;
      env[e.name] = standIn[e.valueFrom.secretKeyRef.key] ?? 'secret';
    } else {
      assert.ok(e.value !== undefined, `${c.name}: ${e.name} has neither a value nor a secretKeyRef`);
      env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => {
        if (!(name in env)) return whole;
        helpers.add(name);
        return env[name];
      });
    }
  }
  return { env, secrets, helpers };
}

/** Names a deployment file sets that the apps do not read (what a one-sided rename leaves behind). */
export function unknownVariables(names: Iterable<string>, known: readonly string[]): string[] {
  return [...names].filter((n) => !known.includes(n));
}

/** The route paths of the compiled controllers in libs/common (health, metrics). */
async function commonRoutes(): Promise<Set<string>> {
  const routes = new Set<string>();
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((e) => {
      const p = join(dir, e);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.controller.js') ? [p] : [];
    });
  for (const file of walk(join(compiled, 'libs/common/src'))) {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    for (const exported of Object.values(mod)) {
      if (typeof exported !== 'function') continue;
      const base = String(Reflect.getMetadata('path', exported) ?? '').replace(/^\/|\/$/g, '');
      const proto = (exported as { prototype: Record<string, unknown> }).prototype;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const method = proto[name];
        if (typeof method !== 'function' || name === 'constructor') continue;
        const path = Reflect.getMetadata('path', method) as string | undefined;
        if (path !== undefined) routes.add(`/${[base, path.replace(/^\//, '')].filter(Boolean).join('/')}`);
      }
    }
  }
  return routes;
}

/** The `dist/….js` entry a package.json script or a command runs. */
function entryOf(args: string | string[]): string {
  const tokens = typeof args === 'string' ? args.split(/\s+/) : args;
  const entry = tokens.find((t) => /^dist\/.+\.js$/.test(t));
  assert.ok(entry, `no dist/*.js entry in ${JSON.stringify(args)}`);
  return entry;
}
const sourceOf = (entry: string) => entry.replace(/^dist\//, '').replace(/\.js$/, '.ts');

interface Stage {
  name: string;
  from: string;
  user?: string;
  cmd?: string[];
  env: Record<string, string>;
  expose: number[];
  runs: string[];
}

/**
 * The stages of a Dockerfile, parsed by dockerfile-ast (the parser of the VS Code Docker language
 * server), with ENV, EXPOSE, USER and CMD inherited from a parent stage.
 */
function dockerStages(path: string): Map<string, Stage> {
  const dockerfile = DockerfileParser.parse(read(path));
  const stages = new Map<string, Stage>();
  let current: Stage | undefined;
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    const args = instruction.getArgumentsContent() ?? '';
    if (keyword === 'FROM') {
      const from = instruction as From;
      const image = from.getImage() ?? '';
      const parent = stages.get(image);
      current = {
        name: from.getBuildStage() ?? `#${stages.size}`,
        from: parent ? parent.from : image,
        user: parent?.user,
        cmd: parent?.cmd,
        env: { ...(parent?.env ?? {}) },
        expose: [...(parent?.expose ?? [])],
        runs: [...(parent?.runs ?? [])],
      };
      stages.set(current.name, current);
      continue;
    }
    assert.ok(current, `${path}: ${keyword} before FROM`);
    if (keyword === 'ENV') {
      for (const p of (instruction as Env).getProperties())
        current.env[p.getName()] = p.getUnescapedValue() ?? '';
    } else if (keyword === 'EXPOSE') {
      current.expose.push(...instruction.getArguments().map((a) => Number(a.getValue())));
    } else if (keyword === 'USER') {
      current.user = args;
    } else if (keyword === 'CMD') {
      current.cmd = JSON.parse(args) as string[];
    } else if (keyword === 'RUN') {
      current.runs.push(
        instruction
          .getArguments()
          .map((a) => a.getValue())
          .join(' '),
      );
    }
  }
  return stages;
}

/** The compose CLI installed here: the Docker plugin (`docker compose`) or docker-compose v1. */
function findComposeTool(): string[] | null {
  for (const tool of [['docker', 'compose'], ['docker-compose']]) {
    try {
      execFileSync(tool[0], [...tool.slice(1), 'version'], { stdio: 'ignore', timeout: 20_000 });
      return tool;
    } catch {
      // not installed, or `docker` without the compose plugin
    }
  }
  return null;
}
const composeTool = findComposeTool();

/** `compose config`: the files merged, validated and normalised by the real tool (throws if rejected). */
function composeConfig(files: string[]): Obj {
  const [cmd, ...pre] = composeTool!;
  try {
    const out = execFileSync(cmd, [...pre, ...files.flatMap((f) => ['-f', join(root, f)]), 'config'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
      cwd: root,
    });
    return parseYaml(out) as Obj;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '');
    throw new Error(`${composeTool!.join(' ')} config rejected ${files.join(' + ')}:\n${stderr}`, {
      cause: err,
    });
  }
}

/** With a compose CLI, what it prints; without one, the files as YAML (anchors merged). */
const composeFile = (
  composeTool ? composeConfig(['docker-compose.yml']) : parseYaml(read('docker-compose.yml'), { merge: true })
) as { services: Record<string, Obj> };
const composeGpu = (
  composeTool
    ? composeConfig(['docker-compose.yml', 'docker-compose.gpu.yml'])
    : parseYaml(read('docker-compose.gpu.yml'))
) as { services: Record<string, Obj> };

/** APP_ROLE_GRANTS of the compiled migrations: the group roles the api and the workers log in through. */
async function appRoleGrants(): Promise<Record<string, unknown>> {
  const dir = join(compiled, 'migrations');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as {
      APP_ROLE_GRANTS?: Record<string, unknown>;
    };
    if (mod.APP_ROLE_GRANTS) return mod.APP_ROLE_GRANTS;
  }
  throw new Error(`no migration in ${dir} exports APP_ROLE_GRANTS`);
}

suite('environment variables', () => {
  test('loadConfig reads exactly the variables in CONFIG_VARIABLES', () => {
    const seen = new Set<string>();
    const env = new Proxy({} as Record<string, string | undefined>, {
      get: (_t, key) => {
        if (typeof key === 'string') seen.add(key);
        return undefined;
      },
    });
    loadConfig(env);
    assert.deepEqual([...seen].sort(), [...CONFIG_VARIABLES].sort());
  });

  for (const [overlay, objects] of Object.entries(overlays)) {
    test(`${overlay}: every container sets only variables the apps read, with values loadConfig accepts`, () => {
      for (const w of workloads(objects)) {
        for (const c of podSpec(w).containers) {
          const { env, helpers } = containerEnv(objects, c);
          // A name the apps do not read is allowed only as a helper inside another variable's $(…).
          const names = Object.keys(env).filter((n) => !helpers.has(n));
          assert.deepEqual(unknownVariables(names, CONFIG_VARIABLES), [], `${w.metadata.name}/${c.name}`);
          for (const h of helpers) {
            assert.ok(!CONFIG_VARIABLES.includes(h as never), `${h} is read by the apps: not a mere helper`);
          }
          assert.doesNotThrow(() => loadConfig(env), `${w.metadata.name}/${c.name}`);
          // The defaults point at 127.0.0.1: in a cluster both must be set.
          assert.ok(env.NATS_URL, `${w.metadata.name}: NATS_URL`);
          assert.ok(
            c.env?.some((e) => e.name === 'DATABASE_URL'),
            `${w.metadata.name}: DATABASE_URL`,
          );
        }
      }
    });

    test(`${overlay}: migrations run as the schema owner, api and workers as least-privilege logins`, async () => {
      const grants = await appRoleGrants();
      const cluster = get(objects, 'Cluster');
      const clusterSpec = spec(cluster) as {
        bootstrap: { initdb: { database: string; owner: string; postInitSQL?: string[] } };
        managed?: {
          roles: { name: string; login?: boolean; inRoles?: string[]; passwordSecret?: { name: string } }[];
        };
      };
      const migrate = podSpec(get(objects, 'Job', 'sentinel-migrate')).containers[0];
      assert.deepEqual(containerEnv(objects, migrate).secrets.DATABASE_URL, {
        name: `${cluster.metadata.name}-app`,
        key: 'uri',
      });
      for (const [name, group] of [
        ['sentinel-api', 'sentinel_api'],
        ['sentinel-worker', 'sentinel_worker'],
      ]) {
        assert.ok(grants[group], `${group} is not a role of the AppRoles migration`);
        const c = podSpec(get(objects, 'Deployment', name)).containers[0];
        const url = c.env!.find((e) => e.name === 'DATABASE_URL')!;
        const m = /^postgresql:\/\/\$\((\w+)\):\$\((\w+)\)@([\w.-]+):5432\/(\w+)$/.exec(url.value ?? '');
        assert.ok(m, `${name}: DATABASE_URL should be built from a login Secret, got ${url.value}`);
        const ref = (v: string) => c.env!.find((e) => e.name === v)?.valueFrom?.secretKeyRef;
        const user = ref(m[1]);
        assert.equal(user?.key, 'username');
        assert.deepEqual(ref(m[2]), { name: user.name, key: 'password' });
        assert.equal(m[3], `${cluster.metadata.name}-rw`);
        assert.equal(m[4], clusterSpec.bootstrap.initdb.database);
        // The Secret's login is a managed role that is only a member of the app's group role.
        const role = clusterSpec.managed?.roles.find((r) => r.passwordSecret?.name === user.name);
        assert.ok(role, `${name}: no managed role uses the Secret ${user.name}`);
        assert.equal(role.login, true);
        assert.deepEqual(role.inRoles, [group]);
        assert.notEqual(role.name, clusterSpec.bootstrap.initdb.owner);
        // The group exists before the migrations grant to it (the owner may not create roles).
        assert.ok(clusterSpec.bootstrap.initdb.postInitSQL?.includes(`CREATE ROLE ${group} NOLOGIN`), group);
      }
      assert.deepEqual(
        objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name),
        [],
        'no Secret is committed',
      );
    });
  }

  for (const [overlay, objects] of Object.entries(overlays)) {
    test(`${overlay}: api and workers log in to NATS as their own users, with the Secrets NATS reads`, () => {
      for (const role of ['api', 'worker'] as const) {
        const c = podSpec(get(objects, 'Deployment', `sentinel-${role}`)).containers[0];
        const { env, secrets } = containerEnv(objects, c);
        assert.equal(env.NATS_USER, NATS_USERS[role].user, `${role}: NATS_USER`);
        assert.ok(!/@/.test(env.NATS_URL), `${role}: no credentials in NATS_URL`);
        // The NATS servers read the same Secret key into the variable their configuration names.
        const ref = secrets.NATS_PASSWORD;
        assert.ok(ref, `${role}: NATS_PASSWORD from a Secret`);
        assert.deepEqual(
          natsValues.container.env[NATS_USERS[role].passwordVariable]?.valueFrom?.secretKeyRef,
          ref,
          `${role}: the NATS container's ${NATS_USERS[role].passwordVariable}`,
        );
        const config = loadConfig(env);
        assert.equal(config.natsUser, NATS_USERS[role].user);
      }
      // Two apps, two Secrets: a pod never holds the other user's password.
      const refOf = (role: string) =>
        containerEnv(objects, podSpec(get(objects, 'Deployment', `sentinel-${role}`)).containers[0]).secrets
          .NATS_PASSWORD.name;
      assert.notEqual(refOf('api'), refOf('worker'));
    });
  }

  test('a variable renamed on one side only is reported', () => {
    const renamed = CONFIG_VARIABLES.filter((v) => v !== 'WORKER_HTTP_PORT');
    const worker = get(overlays.prod, 'Deployment', 'sentinel-worker');
    const { env, helpers } = containerEnv(overlays.prod, podSpec(worker).containers[0]);
    const names = Object.keys(env).filter((n) => !helpers.has(n));
    assert.deepEqual(unknownVariables(names, renamed), ['WORKER_HTTP_PORT']);
  });
});

suite('ports and probes', () => {
  for (const [overlay, objects] of Object.entries(overlays)) {
    test(`${overlay}: container ports are the ports the configuration makes the apps listen on`, () => {
      const api = podSpec(get(objects, 'Deployment', 'sentinel-api')).containers[0];
      const worker = podSpec(get(objects, 'Deployment', 'sentinel-worker')).containers[0];
      const apiConfig = loadConfig(containerEnv(objects, api).env);
      const workerConfig = loadConfig(containerEnv(objects, worker).env);
      const port = (c: Container, name: string) => c.ports?.find((p) => p.name === name)?.containerPort;
      assert.equal(port(api, 'http'), apiConfig.httpPort);
      assert.equal(port(api, 'grpc'), apiConfig.grpcPort);
      assert.equal(port(worker, 'http'), workerConfig.workerHttpPort);
    });

    test(`${overlay}: Services reach named ports of the pods they select`, () => {
      for (const svc of objects.filter((o) => o.kind === 'Service')) {
        const selector = spec(svc).selector as Record<string, string>;
        const pods = workloads(objects).filter((w) =>
          Object.entries(selector).every(([k, v]) => podLabels(w)[k] === v),
        );
        assert.equal(pods.length, 1, `${svc.metadata.name} selects ${pods.length} workloads`);
        const names = podSpec(pods[0]).containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));
        for (const p of spec(svc).ports as { name: string; targetPort: string }[]) {
          assert.ok(names.includes(p.targetPort), `${svc.metadata.name}:${p.name} → ${p.targetPort}`);
        }
      }
      const apiPorts = (spec(get(objects, 'Service', 'sentinel-api')).ports as { name: string }[]).map(
        (p) => p.name,
      );
      assert.deepEqual(apiPorts.sort(), ['grpc', 'http']);
    });
  }

  test('probes: readiness on /readyz, liveness on /healthz, both routes the apps serve', async () => {
    const routes = await commonRoutes();
    assert.ok(routes.has('/healthz') && routes.has('/readyz'), `routes found: ${[...routes].join(', ')}`);
    for (const objects of Object.values(overlays)) {
      for (const name of ['sentinel-api', 'sentinel-worker']) {
        const c = podSpec(get(objects, 'Deployment', name)).containers[0];
        assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'http' }, name);
        assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'http' }, name);
        if (c.startupProbe) assert.ok(routes.has(c.startupProbe.httpGet!.path));
      }
    }
  });

  test('the ServiceMonitor scrapes a /metrics route on the http port of the api and worker Services', async (t) => {
    const objects = overlays.prod;
    const monitor = get(objects, 'ServiceMonitor');
    const endpoints = spec(monitor).endpoints as { port: string; path: string }[];
    assert.deepEqual(
      endpoints.map((e) => [e.port, e.path]),
      [['http', '/metrics']],
    );
    const selector = spec(monitor).selector as { matchExpressions: { key: string; values: string[] }[] };
    for (const svc of objects.filter((o) => o.kind === 'Service')) {
      const labels = svc.metadata.labels ?? {};
      assert.ok(
        selector.matchExpressions.every((e) => e.values.includes(labels[e.key])),
        svc.metadata.name,
      );
    }
    const routes = await commonRoutes();
    if (!routes.has('/metrics')) {
      t.skip(
        `no /metrics route among the compiled controllers of libs/common yet (${[...routes].join(', ')})`,
      );
    }
  });
});

/** Bytes of a Kubernetes quantity (`12Gi`, `512M`, `1073741824`). */
function bytesOf(quantity: unknown): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]i?|k)?$/.exec(String(quantity));
  assert.ok(m, `cannot read the quantity ${String(quantity)}`);
  const units: Record<string, number> = {
    k: 1e3,
    K: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(m[1]) * (m[2] ? units[m[2]] : 1);
}

suite('sizing', () => {
  for (const [overlay, objects] of Object.entries(overlays)) {
    test(`${overlay}: the worker's memory limit holds its SAE cache and the largest upload (docs/deploy.md)`, () => {
      const worker = podSpec(get(objects, 'Deployment', 'sentinel-worker')).containers[0];
      const config = loadConfig(containerEnv(objects, worker).env);
      // The activation bytes read whole, plus their f32 copy (twice their size when uploaded as f16).
      const needed = config.saeCacheBytes + 3 * config.uploadLimitBytes + 2 ** 30;
      const limit = bytesOf(worker.resources?.limits?.memory);
      assert.ok(limit >= needed, `limit ${limit} B < ${needed} B`);
      // The API must not accept an upload the workers could not hold.
      const api = podSpec(get(objects, 'Deployment', 'sentinel-api')).containers[0];
      assert.equal(loadConfig(containerEnv(objects, api).env).uploadLimitBytes, config.uploadLimitBytes);
    });
  }
});

suite('work queue and scaling', () => {
  const nats = natsValues;

  test('NATS values: 3-node cluster, JetStream on files with fsync before ack, monitoring port served', () => {
    assert.equal(nats.config.cluster.enabled, true);
    assert.equal(nats.config.cluster.replicas, 3);
    assert.equal(nats.config.jetstream.enabled, true);
    assert.equal(nats.config.jetstream.fileStore.enabled, true);
    assert.equal(nats.config.jetstream.merge.sync_interval, 'always');
    assert.equal(nats.config.monitor.enabled, true);
    assert.equal(nats.service.ports.monitor.enabled, true);
  });

  test("NATS values: the account's users and subject permissions are natsAccounts(NATS_PREFIX)", () => {
    const configMap = get(overlays.prod, 'ConfigMap').data as Record<string, string>;
    const prefix = loadConfig(configMap).natsPrefix;
    // The generator's output verbatim (scripts/nats-accounts.mjs --helm): edit the code, not the values.
    assert.deepEqual(nats.config.merge.accounts, natsAccounts(prefix));
    for (const { passwordVariable } of Object.values(NATS_USERS)) {
      assert.ok(nats.container.env[passwordVariable]?.valueFrom?.secretKeyRef, passwordVariable);
    }
    assert.equal(nats.natsBox.container.env.NATS_USER, NATS_USERS.admin.user);
    assert.deepEqual(
      (nats.natsBox.container.env.NATS_PASSWORD as { valueFrom: unknown }).valueFrom,
      nats.container.env[NATS_USERS.admin.passwordVariable].valueFrom,
    );
  });

  test('KEDA scales the worker Deployment from zero on the lag of the consumer the workers use', () => {
    const objects = overlays.prod;
    const scaled = get(objects, 'ScaledObject');
    const worker = get(objects, 'Deployment', 'sentinel-worker');
    const config = loadConfig(containerEnv(objects, podSpec(worker).containers[0]).env);
    const names = natsNames(config.natsPrefix);
    assert.equal(config.natsPrefix, 'sentinel');
    assert.equal((spec(scaled).scaleTargetRef as { name: string }).name, worker.metadata.name);
    assert.equal(spec(scaled).minReplicaCount, 0);
    assert.ok(Number(spec(scaled).maxReplicaCount) > 1);
    assert.equal(spec(worker).replicas, undefined, 'KEDA owns the replica count');
    const [trigger] = spec(scaled).triggers as { type: string; metadata: Record<string, string> }[];
    assert.equal(trigger.type, 'nats-jetstream');
    assert.equal(trigger.metadata.stream, names.jobsStream);
    assert.equal(trigger.metadata.consumer, names.workersConsumer);
    assert.equal(trigger.metadata.account, NATS_ACCOUNT);
    // The Helm release `nats`: its headless Service in this namespace, on the monitoring port.
    assert.equal(
      trigger.metadata.natsServerMonitoringEndpoint,
      `nats-headless.${scaled.metadata.namespace}.svc.cluster.local:${nats.config.monitor.port}`,
    );
    assert.equal(new URL(config.natsUrl).host, 'nats:4222');
  });

  test('GPU workers in prod, CPU workers (lavapipe image) in dev', () => {
    const prod = podSpec(get(overlays.prod, 'Deployment', 'sentinel-worker'));
    assert.equal(Number(prod.containers[0].resources?.limits?.['nvidia.com/gpu']), 1);
    assert.equal(prod.nodeSelector?.['nvidia.com/gpu.present'], 'true');
    assert.ok(prod.tolerations?.some((t) => t.key === 'nvidia.com/gpu' && t.operator === 'Exists'));
    assert.equal(parseImage(prod.containers[0].image).name, 'sentinel/worker');

    const dev = podSpec(get(overlays.dev, 'Deployment', 'sentinel-worker'));
    assert.equal(dev.containers[0].resources?.limits?.['nvidia.com/gpu'], undefined);
    assert.equal(dev.nodeSelector, undefined);
    assert.equal(dev.tolerations, undefined);
    assert.equal(parseImage(dev.containers[0].image).name, 'sentinel/worker-cpu');
    assert.equal(spec(get(overlays.dev, 'Deployment', 'sentinel-worker')).replicas, 1);
    // The API's count is the HPA's in both overlays (a `replicas` in the manifest would reset it).
    assert.equal(spec(get(overlays.dev, 'Deployment', 'sentinel-api')).replicas, undefined);
    const devHpa = spec(get(overlays.dev, 'HorizontalPodAutoscaler', 'sentinel-api'));
    assert.deepEqual([devHpa.minReplicas, devHpa.maxReplicas], [1, 1]);
    assert.equal(spec(get(overlays.prod, 'Deployment', 'sentinel-api')).replicas, undefined);
    assert.equal(spec(get(overlays.prod, 'HorizontalPodAutoscaler', 'sentinel-api')).minReplicas, 3);
    assert.equal(overlays.dev.filter((o) => o.kind === 'ScaledObject').length, 0);
  });
});

suite('Postgres and network policies', () => {
  test('CloudNativePG: three instances with synchronous replication in prod, one in dev', () => {
    const prod = spec(get(overlays.prod, 'Cluster'));
    assert.equal(prod.instances, 3);
    assert.ok(Number((prod.postgresql as { synchronous: { number: number } }).synchronous.number) >= 1);
    assert.equal(spec(get(overlays.dev, 'Cluster')).instances, 1);
  });

  for (const [overlay, objects] of Object.entries(overlays)) {
    test(`${overlay}: only api, workers (and migrations, for Postgres) may reach Postgres and NATS`, () => {
      const cluster = get(objects, 'Cluster');
      const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
      const policyFor = (labels: Record<string, string>) => {
        const found = policies.filter((p) =>
          Object.entries((spec(p).podSelector as { matchLabels: Record<string, string> }).matchLabels).every(
            ([k, v]) => labels[k] === v,
          ),
        );
        assert.equal(found.length, 1);
        return found[0];
      };
      const postgres = policyFor({ 'cnpg.io/cluster': cluster.metadata.name });
      const natsPolicy = policyFor({
        'app.kubernetes.io/name': 'nats',
        'app.kubernetes.io/instance': 'nats',
      });

      type Rule = { from: Obj[]; ports: { port: number }[] };
      const matches = (sel: Obj, labels: Record<string, string>) => {
        const exprs = (sel.matchExpressions ?? []) as { key: string; operator: string; values: string[] }[];
        const plain = (sel.matchLabels ?? {}) as Record<string, string>;
        return (
          Object.entries(plain).every(([k, v]) => labels[k] === v) &&
          exprs.every((e) => e.operator === 'In' && e.values.includes(labels[e.key]))
        );
      };
      /** Ports that pods with these labels (in this namespace) may reach under the policy. */
      const portsFor = (policy: K8sObject, labels: Record<string, string>) =>
        ((spec(policy).ingress ?? []) as Rule[])
          .filter((r) =>
            r.from.some(
              (f) => f.podSelector && !f.namespaceSelector && matches(f.podSelector as Obj, labels),
            ),
          )
          .flatMap((r) => r.ports.map((p) => p.port));

      const component = (name: string) =>
        podLabels(get(objects, name === 'migrate' ? 'Job' : 'Deployment', `sentinel-${name}`));
      for (const name of ['api', 'worker']) {
        assert.ok(portsFor(postgres, component(name)).includes(5432), `${name} → Postgres`);
        assert.ok(portsFor(natsPolicy, component(name)).includes(4222), `${name} → NATS`);
      }
      assert.ok(portsFor(postgres, component('migrate')).includes(5432), 'migrate → Postgres');
      assert.deepEqual(portsFor(natsPolicy, component('migrate')), [], 'migrate has no business with NATS');
      assert.deepEqual(portsFor(postgres, { 'app.kubernetes.io/name': 'something-else' }), []);
      assert.deepEqual(portsFor(natsPolicy, { 'app.kubernetes.io/name': 'something-else' }), []);
      // KEDA (in its own namespace) reads the monitoring port.
      const monitoring = ((spec(natsPolicy).ingress ?? []) as Rule[]).filter((r) =>
        r.from.some(
          (f) =>
            (f.namespaceSelector as { matchLabels?: Obj })?.matchLabels?.['kubernetes.io/metadata.name'] ===
            'keda',
        ),
      );
      assert.ok(monitoring.some((r) => r.ports.some((p) => p.port === 8222)));
    });
  }
});

suite('images and entry points', () => {
  /** Image repository → the Dockerfile and stage that build it, from the compose files. */
  const builds = new Map<string, { dockerfile: string; target: string }>();
  for (const services of [composeFile.services, composeGpu.services]) {
    for (const svc of Object.values(services)) {
      const build = svc.build as { dockerfile: string; target: string } | undefined;
      if (build)
        builds.set(parseImage(String(svc.image)).name, {
          dockerfile: build.dockerfile,
          target: build.target,
        });
    }
  }

  test('every image in the manifests is built by a Dockerfile stage whose command matches package.json', () => {
    const expected: Record<string, string> = {
      'sentinel-api': pkg.scripts['start:api'],
      'sentinel-worker': pkg.scripts['start:worker'],
      'sentinel-migrate': pkg.scripts['migration:run'],
    };
    for (const objects of Object.values(overlays)) {
      for (const w of workloads(objects)) {
        const pod = podSpec(w);
        for (const c of pod.containers) {
          const image = parseImage(c.image);
          assert.ok(image.tag, `${c.image}: pin a tag`);
          const build = builds.get(image.name);
          assert.ok(build, `${c.image}: no compose service builds ${image.name}`);
          const stage = dockerStages(build.dockerfile).get(build.target);
          assert.ok(stage, `${build.dockerfile} has no stage ${build.target}`);
          const command = c.command ?? stage.cmd;
          assert.ok(command, `${c.image}: no command`);
          assert.equal(entryOf(command), entryOf(expected[w.metadata.name]), w.metadata.name);
          assert.ok(existsSync(join(root, sourceOf(entryOf(command)))), `${entryOf(command)} has no source`);
          assert.match(
            stage.user ?? '',
            /^[1-9]\d*(:\d+)?$/,
            `${build.target}: USER must be numeric and not root`,
          );
          assert.equal(pod.securityContext?.runAsUser, Number(stage.user!.split(':')[0]));
          assert.equal(pod.securityContext?.runAsNonRoot, true);
        }
      }
    }
  });

  test("the Dockerfiles pass dockerfile-utils' linter (syntax, instructions, flags)", () => {
    for (const path of ['apps/api/Dockerfile', 'apps/worker/Dockerfile']) {
      const problems = lintDockerfile(read(path)).map(
        (d) => `${path}:${d.range.start.line + 1}: ${d.message}`,
      );
      assert.deepEqual(problems, []);
    }
  });

  test('Dockerfiles: Node 20 bookworm-slim, ports the defaults listen on, Vulkan for the workers', () => {
    const defaults = loadConfig({});
    const api = dockerStages('apps/api/Dockerfile').get('api')!;
    const gpu = dockerStages('apps/worker/Dockerfile').get('worker')!;
    const cpu = dockerStages('apps/worker/Dockerfile').get('worker-cpu')!;
    for (const stage of [api, gpu, cpu]) assert.equal(stage.from, 'node:20-bookworm-slim');
    assert.deepEqual(api.expose.sort(), [defaults.httpPort, defaults.grpcPort].sort());
    assert.deepEqual(gpu.expose, [defaults.workerHttpPort]);
    for (const stage of [gpu, cpu]) assert.ok(stage.runs.some((r) => /\blibvulkan1\b/.test(r)));
    const caps = gpu.env.NVIDIA_DRIVER_CAPABILITIES?.split(',') ?? [];
    assert.ok(
      caps.includes('graphics') || caps.includes('all'),
      `NVIDIA_DRIVER_CAPABILITIES=${caps.join(',')}`,
    );
    assert.ok(cpu.runs.some((r) => /-t bookworm-backports mesa-vulkan-drivers/.test(r)));
    assert.equal(cpu.env.NVIDIA_DRIVER_CAPABILITIES, undefined);
  });

  test('what the images run imports only production dependencies (the runtime stage has no others)', () => {
    const deps = Object.keys((JSON.parse(read('package.json')) as { dependencies: Obj }).dependencies);
    // The `sentinel` CLI too: docs/deploy.md runs it in the api image (e.g. to create API keys).
    const scripts = [pkg.scripts['start:api'], pkg.scripts['start:worker'], pkg.scripts['migration:run']];
    if (pkg.bin?.sentinel) scripts.push(pkg.bin.sentinel);
    const entries = scripts.map((script) => join(compiled, entryOf(script).replace(/^dist\//, '')));
    // Static imports and string-literal dynamic imports of the compiled modules, followed from the
    // entry points; only what those processes can load counts (tests and the demo may use dev tools).
    const importRe =
      /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*'([^']+)'|(?:^|[\s;])import\s*'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g;
    const seen = new Set<string>();
    const packages = new Map<string, string>();
    const queue = [...entries];
    while (queue.length) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      assert.ok(existsSync(file), `${file} is imported but was not built`);
      for (const m of readFileSync(file, 'utf8').matchAll(importRe)) {
        const spec = m[1] ?? m[2] ?? m[3];
        if (spec.startsWith('.')) queue.push(join(dirname(file), spec));
        else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) {
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
          packages.set(name, file.slice(compiled.length + 1));
        }
      }
    }
    assert.ok(packages.has('@nestjs/core') && packages.has('pg'), "the import scan found the apps' packages");
    const missing = [...packages].filter(([name]) => !deps.includes(name)).map(([n, f]) => `${n} (${f})`);
    assert.deepEqual(missing, [], 'imported at run time but not in package.json dependencies');
  });

  test('.dockerignore keeps out build outputs and dependencies but nothing `npm run build` needs', () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    // Only plain top-level names are used, so matching is exact; a glob would need a real matcher.
    for (const p of patterns) assert.match(p, /^[\w.*-]+$/, `.dockerignore: "${p}" is not a plain name`);
    const excluded = (path: string) =>
      patterns.some((p) =>
        new RegExp(`^${p.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`).test(path.split('/')[0]),
      );
    for (const path of ['node_modules', 'dist', '.git', '.build'])
      assert.ok(excluded(path), `${path} is sent`);
    const tsconfig = JSON.parse(read('tsconfig.json')) as { include: string[] };
    const needed = [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'scripts/copy-assets.mjs',
      'proto',
      ...tsconfig.include
        .map((g) => g.split('/')[0])
        .filter((d) => ['apps', 'libs', 'migrations'].includes(d)),
    ];
    for (const path of needed) assert.ok(!excluded(path), `${path} is needed by the image build`);
  });

  test("docs/deploy.md's phase one (-l 'component notin (api,worker)') holds the Job, not the apps", () => {
    for (const objects of Object.values(overlays)) {
      const phaseOne = objects
        .filter((o) => !['api', 'worker'].includes(o.metadata.labels?.['app.kubernetes.io/component'] ?? ''))
        .map((o) => `${o.kind}/${o.metadata.name}`);
      assert.ok(phaseOne.includes('Job/sentinel-migrate'));
      assert.ok(phaseOne.includes('Cluster/sentinel-pg'));
      assert.ok(phaseOne.some((n) => n.startsWith('ConfigMap/sentinel-config-')));
      for (const name of ['Deployment/sentinel-api', 'Deployment/sentinel-worker']) {
        assert.ok(!phaseOne.includes(name), name);
      }
    }
  });

  test('the migrations Job runs the api image before rollouts (Argo CD sync waves)', () => {
    for (const objects of Object.values(overlays)) {
      const job = get(objects, 'Job', 'sentinel-migrate');
      const api = podSpec(get(objects, 'Deployment', 'sentinel-api')).containers[0];
      assert.equal(podSpec(job).containers[0].image, api.image);
      // Argo CD: a Sync hook in a wave after the database and before the Deployments.
      const wave = (o: K8sObject) => Number(o.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? 0);
      assert.equal(job.metadata.annotations?.['argocd.argoproj.io/hook'], 'Sync');
      assert.ok(wave(job) > wave(get(objects, 'Cluster')));
      for (const name of ['sentinel-api', 'sentinel-worker']) {
        assert.ok(wave(get(objects, 'Deployment', name)) > wave(job), name);
      }
    }
  });
});

suite('docker compose', () => {
  test('`docker compose config` accepts docker-compose.yml, alone and with the GPU override', (t) => {
    if (!composeTool) {
      const message =
        'neither `docker compose` nor `docker-compose` is installed (scripts/setup-system.sh installs docker-compose)';
      if (process.env.CI === 'true')
        throw new Error(`${message}; CI=true: the compose check may not be skipped`);
      t.skip(message);
      return;
    }
    // Both configs were produced by the tool above (a rejection fails this file at load).
    const worker = composeGpu.services.worker;
    assert.equal((worker.build as { target: string }).target, 'worker');
    assert.ok(JSON.stringify(worker.deploy).includes('"driver":"nvidia"'));
    assert.equal((composeFile.services.worker.build as { target: string }).target, 'worker-cpu');
  });

  test('migrations as the owner, api and worker as least-privilege logins made by docker/postgres-roles.sql', async () => {
    const grants = await appRoleGrants();
    const s = composeFile.services;
    const user = (name: string) => {
      const env = s[name].environment as Record<string, string>;
      return decodeURIComponent(new URL(env.DATABASE_URL).username);
    };
    const mounts = ((s.postgres.volumes ?? []) as (string | { source: string; target: string })[]).map((v) =>
      typeof v === 'string' ? v : `${v.source}:${v.target}`,
    );
    assert.ok(
      mounts.some((m) => /docker\/postgres-roles\.sql:\/docker-entrypoint-initdb\.d\//.test(m)),
      `postgres mounts: ${mounts.join(', ')}`,
    );
    const sql = read('docker/postgres-roles.sql');
    assert.equal(user('migrate'), (s.postgres.environment as Record<string, string>).POSTGRES_USER);
    for (const [service, group] of [
      ['api', 'sentinel_api'],
      ['worker', 'sentinel_worker'],
    ]) {
      assert.ok(grants[group], `${group} is not a role of the AppRoles migration`);
      assert.match(sql, new RegExp(`CREATE ROLE ${group} NOLOGIN;`));
      assert.match(sql, new RegExp(`CREATE ROLE ${user(service)} LOGIN PASSWORD '[^']*' IN ROLE ${group};`));
    }
  });

  test('NATS runs docker/nats-accounts.conf, as generated, and api and worker log in as their users', () => {
    const s = composeFile.services;
    const env = (name: string) => s[name].environment as Record<string, string>;
    const prefix = loadConfig(env('api')).natsPrefix;
    assert.equal(read('docker/nats-accounts.conf'), natsConfText(prefix));
    const args = ([] as string[]).concat(s.nats.command as string[]);
    const conf = args[args.indexOf('-c') + 1];
    assert.ok(args.includes('-c') && conf, `nats command: ${args.join(' ')}`);
    const mounts = ((s.nats.volumes ?? []) as (string | { source: string; target: string })[]).map((v) =>
      typeof v === 'string' ? v : `${v.source}:${v.target}`,
    );
    assert.ok(
      mounts.some((m) => m.includes(`docker/nats-accounts.conf:${conf}`)),
      `nats mounts: ${mounts.join(', ')}`,
    );
    for (const role of ['api', 'worker'] as const) {
      assert.equal(env(role).NATS_USER, NATS_USERS[role].user, role);
      assert.equal(env(role).NATS_PASSWORD, env('nats')[NATS_USERS[role].passwordVariable], role);
      assert.equal(loadConfig(env(role)).natsUser, NATS_USERS[role].user);
    }
    assert.ok(env('nats')[NATS_USERS.admin.passwordVariable], 'the admin password');
    assert.equal(env('migrate').NATS_USER, undefined, 'the migrations do not use NATS');
  });

  test('services, environment, ports and start order match the apps', () => {
    const s = composeFile.services;
    assert.deepEqual(Object.keys(s).sort(), ['api', 'migrate', 'nats', 'postgres', 'worker']);
    assert.match(String(s.postgres.image), /^postgres:15/);
    assert.match(String(s.nats.image), /^nats:2\.10/);
    const natsArgs = ([] as string[]).concat(s.nats.command as string[]).join(' ');
    assert.match(natsArgs, /-js\b/);
    assert.match(natsArgs, /-sd \/data/);
    assert.match(natsArgs, /-m 8222/);
    assert.equal(entryOf(s.migrate.command as string[]), entryOf(pkg.scripts['migration:run']));
    for (const name of ['migrate', 'api', 'worker']) {
      const env = s[name].environment as Record<string, string>;
      assert.deepEqual(unknownVariables(Object.keys(env), CONFIG_VARIABLES), [], name);
      const config = loadConfig(env);
      assert.equal(new URL(config.databaseUrl).host, 'postgres:5432', name);
      if (name === 'migrate') continue;
      assert.equal(new URL(config.natsUrl).host, 'nats:4222', name);
      const deps = s[name].depends_on as Record<string, { condition: string }>;
      assert.equal(deps.migrate.condition, 'service_completed_successfully', name);
      const targets = ((s[name].ports ?? []) as (string | { target: number | string })[]).map((p) =>
        typeof p === 'string' ? Number(p.split(':').pop()!.split('/')[0]) : Number(p.target),
      );
      const wanted = name === 'api' ? [config.httpPort, config.grpcPort] : [config.workerHttpPort];
      for (const port of wanted) assert.ok(targets.includes(port), `${name}: port ${port}`);
    }
  });
});
