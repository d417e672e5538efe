// Property-based fuzzing (fast-check) of the REST inputs through a real in-process API on the real
// Postgres and NATS (counts are scoped to this file's SAE and run: other test files share the database and
// run at the same time): POST /v1/runs bodies, PUT /v1/saes/:id/watchlist bodies, and activation uploads
// (mutated files, odd path parameters, content types, chunked bodies). Every answer must be a success or a
// clean 4xx (never 5xx), the API must still answer /healthz, and a refused request must leave nothing:
// no run row, no change to the watchlist, no evaluation row, no object in the store.
//
// In `npm test` each target runs for FUZZ_SECONDS (default 25) and prints how many requests it made;
// `FUZZ_RUNS=10000 npm run test:fuzz` runs exactly that many per target. FUZZ_SEED replays a run.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DataSource } from 'typeorm';
import { natsNames } from '../../libs/messaging/src/index.js';
import {
  activationsHeaderSize,
  inspectActivationsHeader,
  parseActivations,
  SaeFormatError,
  writeNpy,
} from '../../libs/sae/src/index.js';
import { testConfig } from '../support/config.js';
import {
  bytesMutation,
  headerLength,
  jsonEdit,
  jsonValue,
  mutations,
  npyEdit,
  npyLength,
} from '../support/mutations.js';
import { activationsFile, type Api, registerSae, startApi } from '../pipeline/support.js';

const FIXED_RUNS = process.env.FUZZ_RUNS === undefined ? undefined : Number(process.env.FUZZ_RUNS);
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 25);
const SEED = process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED);
/** FUZZ_ONLY=<part of a test name> runs that fuzz target alone (e.g. a full-length rerun of one). */
const only = (name: string) => ({
  skip: process.env.FUZZ_ONLY !== undefined && !name.includes(process.env.FUZZ_ONLY),
});
/** Either exactly FUZZ_RUNS cases, or as many as fit in FUZZ_SECONDS. */
const params = {
  seed: SEED,
  endOnFailure: true,
  numRuns: FIXED_RUNS ?? 1_000_000,
  ...(FIXED_RUNS === undefined
    ? { interruptAfterTimeLimit: SECONDS * 1000, markInterruptAsFailure: false }
    : {}),
};

const config = testConfig({ AUTH_REQUIRED: 'false', UPLOAD_LIMIT_BYTES: String(64 * 1024) });
let api: Api;
let db: DataSource;
let nc: NatsConnection;
let sae: { id: string; dIn: number; dSae: number };
let runId: string;

before(async () => {
  api = await startApi(config);
  db = api.app.get(DataSource);
  nc = await connect({ servers: config.natsUrl });
  sae = await registerSae(api, 8, 32, 3);
  const run = await api.json<{ id: string }>('POST', '/v1/runs', {
    name: 'fuzz',
    project: 'fuzz',
    model: 'tiny',
    saeId: sae.id,
  });
  runId = run.body.id;
  console.log(
    `REST fuzz: seed ${SEED} (replay: FUZZ_SEED=${SEED}); ` +
      (FIXED_RUNS ? `${FIXED_RUNS} requests per target` : `${SECONDS} s per target`),
  );
});

after(async () => {
  await nc?.close();
  await api?.app.close();
});

/** One request; the status and body text, with a guard that no answer is a 5xx. */
async function request(
  method: string,
  path: string,
  body: Uint8Array | ReadableStream<Uint8Array> | string | undefined,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  const init: RequestInit & { duplex?: 'half' } = { method, headers, body };
  if (body instanceof ReadableStream) init.duplex = 'half';
  const res = await fetch(api.url + path, init);
  const text = await res.text();
  assert.ok(res.status < 500, `${method} ${path} answered ${res.status}: ${text}`);
  return { status: res.status, text };
}

/**
 * fast-check's interruptAfterTimeLimit abandons the run in flight when the time is up (it races it against
 * a timer) but cannot stop its request, which may still be accepted: wait for those runs to finish before
 * counting what was stored.
 */
const inFlight = new Set<Promise<void>>();
function tracked<A extends unknown[]>(
  predicate: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return (...args: A) => {
    const run = predicate(...args);
    inFlight.add(run);
    run.then(
      () => inFlight.delete(run),
      () => inFlight.delete(run),
    );
    return run;
  };
}

async function settleInFlight(): Promise<void> {
  // A run abandoned at the time limit still asserts: its failure must fail the test, not vanish.
  const failed = (await Promise.allSettled([...inFlight])).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

async function healthy(): Promise<void> {
  const res = await fetch(`${api.url}/healthz`);
  assert.equal(res.status, 200);
}

/** A path segment; a lone surrogate (which encodeURIComponent refuses) becomes a malformed escape. */
function pathSegment(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
}

const count = async (sql: string, args: unknown[] = []) =>
  Number(((await db.query(sql, args)) as { n: string }[])[0].n);

/** Strings that have broken APIs before: NUL, lone surrogates, huge, unicode, SQL and JSON lookalikes. */
const nastyString = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff',
    "'; DROP TABLE run; --",
    '{"a":1}',
    'null',
    '%00',
    '\\u0000',
    'x'.repeat(201),
    'x'.repeat(5000),
  ),
);

/** A JSON value that may carry nasty strings anywhere, nested. */
const nastyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    jsonValue,
    nastyString,
    fc.constantFrom(1e308, -1e308, 1e-320, 2 ** 31, 2 ** 63, -0),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(nastyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A body: valid-ish JSON from a base object with fields replaced, removed or added, or not JSON at all. */
function bodyFrom(
  base: () => Record<string, unknown>,
  fields: Record<string, fc.Arbitrary<unknown>>,
): fc.Arbitrary<{ raw: string; type: string }> {
  const edits = fc.array(
    fc.oneof(
      fc.tuple(fc.constant('set'), fc.constantFrom(...Object.keys(fields)), nastyJson),
      fc.tuple(fc.constant('typed'), fc.constantFrom(...Object.keys(fields)), fc.constant(null)),
      fc.tuple(fc.constant('drop'), fc.constantFrom(...Object.keys(fields)), fc.constant(null)),
      fc.tuple(fc.constant('add'), nastyString, nastyJson),
    ),
    { maxLength: 3 },
  );
  const typed = fc.record(Object.fromEntries(Object.entries(fields)));
  const json = fc.tuple(edits, typed).map(([es, values]) => {
    const body: Record<string, unknown> = base();
    for (const [kind, key, value] of es) {
      if (kind === 'set') body[key] = value;
      else if (kind === 'typed') body[key] = values[key];
      else if (kind === 'drop') delete body[key];
      else body[key] = value;
    }
    return { raw: JSON.stringify(body), type: 'application/json' };
  });
  const other = fc.oneof(
    nastyJson.map((v) => ({ raw: JSON.stringify(v) ?? 'null', type: 'application/json' })),
    fc.string({ maxLength: 100 }).map((s) => ({ raw: s, type: 'application/json' })),
    fc.constantFrom(
      { raw: '{"name": "a",', type: 'application/json' },
      { raw: '[]', type: 'application/json' },
      { raw: 'name=a&project=b', type: 'application/x-www-form-urlencoded' },
      { raw: '{"name":"a"}', type: 'text/plain' },
      { raw: '{"__proto__": {"x": 1}, "name": "a"}', type: 'application/json' },
      { raw: '{"constructor": {"prototype": {"x": 1}}}', type: 'application/json' },
    ),
  );
  return fc.oneof({ weight: 4, arbitrary: json }, { weight: 1, arbitrary: other });
}

test(
  'POST /v1/runs: fuzzed bodies answer 201 or 4xx, and only a 201 adds a run',
  only('POST /v1/runs: fuzzed bodies answer 201 or 4xx, and only a 201 adds a run'),
  async () => {
    let requests = 0;
    let created = 0;
    const before = await count('SELECT count(*) AS n FROM run WHERE sae_id = $1', [sae.id]);
    const runBody = bodyFrom(() => ({ name: 'r', project: 'fuzz-runs', model: 'm', saeId: sae.id }), {
      name: nastyString,
      project: nastyString,
      model: nastyString,
      saeId: fc.oneof(fc.uuid(), fc.constant(sae.id), nastyString),
      baselineStep: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 31, -1, 0)),
      metadata: nastyJson,
    });
    await fc.assert(
      fc.asyncProperty(
        runBody,
        tracked(async ({ raw, type }) => {
          requests++;
          const res = await request('POST', '/v1/runs', raw, { 'content-type': type });
          if (res.status === 201) created++;
          else assert.ok(res.status >= 400, `${res.status} ${res.text}`);
        }),
      ),
      params,
    );
    await settleInFlight();
    await healthy();
    assert.equal(await count('SELECT count(*) AS n FROM run WHERE sae_id = $1', [sae.id]), before + created);
    console.log(`POST /v1/runs: ${requests} requests, ${created} created, seed ${SEED}`);
  },
);

test(
  'PUT /v1/saes/:id/watchlist: fuzzed bodies answer 200 or 4xx; a refused one changes nothing',
  only('PUT /v1/saes/:id/watchlist: fuzzed bodies answer 200 or 4xx; a refused one changes nothing'),
  async () => {
    let requests = 0;
    let accepted = 0;
    const latent = fc.record(
      {
        index: fc.oneof(fc.integer({ min: -2, max: 40 }), fc.double(), fc.constantFrom(2 ** 31, 2 ** 53)),
        label: nastyString,
        rules: nastyJson,
      },
      { requiredKeys: [] },
    );
    const direction = fc.record(
      {
        name: nastyString,
        vector: fc.oneof(
          fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 8, maxLength: 8 }),
          fc.array(fc.constantFrom(1e-300, 1e300, 3.5e38, 1e-46, 1, 0), { minLength: 8, maxLength: 8 }),
          fc.array(nastyJson, { maxLength: 9 }),
        ),
        rules: nastyJson,
      },
      { requiredKeys: [] },
    );
    const body = bodyFrom(() => ({ latents: [{ index: 1, label: 'a' }], directions: [] }), {
      latents: fc.oneof(fc.array(latent, { maxLength: 4 }), nastyJson),
      directions: fc.oneof(fc.array(direction, { maxLength: 3 }), nastyJson),
    });
    const current = async () => (await api.json('GET', `/v1/saes/${sae.id}/watchlist`)).body;
    let previous = await current();
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.boolean(),
        tracked(async ({ raw, type }, otherId) => {
          requests++;
          const id = otherId ? '00000000-0000-4000-8000-000000000000' : sae.id;
          const res = await request('PUT', `/v1/saes/${id}/watchlist`, raw, { 'content-type': type });
          if (res.status === 200) {
            accepted++;
            previous = await current();
            assert.deepEqual(JSON.parse(res.text), previous);
          } else {
            assert.ok(res.status >= 400, `${res.status} ${res.text}`);
            assert.deepEqual(await current(), previous, 'a refused watchlist changed the stored one');
          }
        }),
      ),
      params,
    );
    await settleInFlight();
    await healthy();
    console.log(`PUT watchlist: ${requests} requests, ${accepted} accepted, seed ${SEED}`);
  },
);

test('a watchlist whose entries are arrays, not objects, is a 400 (was a 500)', async () => {
  for (const body of [
    { latents: [{ index: 1, label: 'a' }], directions: [[]] },
    { latents: [[]], directions: [] },
    { latents: [[{ index: 1, label: 'a' }]], directions: [] },
  ]) {
    const res = await request('PUT', `/v1/saes/${sae.id}/watchlist`, JSON.stringify(body), {
      'content-type': 'application/json',
    });
    assert.equal(res.status, 400, res.text);
    assert.match(res.text, /must hold objects/);
  }
});

test(
  'PUT activations: fuzzed uploads answer 202 or 4xx; only valid files are stored, refused ones leave nothing',
  only(
    'PUT activations: fuzzed uploads answer 202 or 4xx; only valid files are stored, refused ones leave nothing',
  ),
  async () => {
    let requests = 0;
    let accepted = 0;
    let step = 1_000_000;
    const bases = [
      activationsFile(6, 8, 1, { nPrompts: 2 }),
      activationsFile(5, 8, 2, { nPrompts: 1, dtype: 'F16' }),
      activationsFile(4, 8, 3, { nPrompts: 2, dtype: 'BF16' }),
      writeNpy({ dtype: 'F32', shape: [3, 8], data: new Float32Array(24).fill(0.5) }),
      activationsFile(4, 16, 4), // the wrong d_in for this run's SAE
    ];
    const file = fc.tuple(
      fc.constantFrom(...bases),
      fc.oneof(
        { weight: 1, arbitrary: fc.constant((b: Buffer) => b) },
        { weight: 6, arbitrary: mutations(bytesMutation, headerLength, jsonEdit, npyEdit, npyLength) },
      ),
    );
    const path = fc.oneof(
      { weight: 8, arbitrary: fc.constant('ok') },
      {
        weight: 1,
        arbitrary: fc.tuple(
          fc.oneof(fc.uuid(), nastyString.map(pathSegment)),
          fc.oneof(
            fc.integer({ min: -5, max: 2 ** 31 + 5 }).map(String),
            fc.constantFrom('1e3', '0x10', '1.5', '', ' 1', '99999999999999999999', '-0'),
            nastyString.map(pathSegment),
          ),
        ),
      },
    );
    const contentType = fc.oneof(
      { weight: 8, arbitrary: fc.constant('application/octet-stream') },
      {
        weight: 1,
        arbitrary: fc.constantFrom('application/json', 'text/plain', 'multipart/form-data; boundary=x', ''),
      },
    );
    const objects = async () => {
      const bucket = await new Objm(nc).open(natsNames(config.natsPrefix).activationsBucket);
      return (await bucket.list()).map((o) => o.name).sort();
    };
    const evaluationsBefore = await count('SELECT count(*) AS n FROM evaluation WHERE run_id = $1', [runId]);
    await fc.assert(
      fc.asyncProperty(
        file,
        path,
        contentType,
        fc.boolean(),
        tracked(async ([base, mutate], where, type, chunked) => {
          requests++;
          const bytes = mutate(base);
          const target = where === 'ok' ? `/v1/runs/${runId}/checkpoints/${step++}/activations` : null;
          const url = target ?? `/v1/runs/${where[0]}/checkpoints/${where[1]}/activations`;
          const headers: Record<string, string> = type ? { 'content-type': type } : {};
          // A chunked body has no Content-Length: the size is known only at its end.
          const body = chunked
            ? new ReadableStream<Uint8Array>({
                start(c) {
                  for (let i = 0; i < bytes.length; i += 7) c.enqueue(bytes.subarray(i, i + 7));
                  c.close();
                },
              })
            : bytes;
          const rowsBefore = await count('SELECT count(*) AS n FROM evaluation WHERE run_id = $1', [runId]);
          const res = await request('PUT', url, body, headers);
          if (res.status === 202) {
            accepted++;
            // Only a file the worker can parse, of the SAE's width, may be accepted.
            const parsed = parseActivations(bytes, 'accepted upload');
            assert.equal(parsed.dIn, sae.dIn);
            assert.equal(
              await count('SELECT count(*) AS n FROM evaluation WHERE run_id = $1', [runId]),
              rowsBefore + 1,
            );
          } else {
            assert.ok(res.status >= 400, `${res.status} ${res.text}`);
            assert.equal(
              await count('SELECT count(*) AS n FROM evaluation WHERE run_id = $1', [runId]),
              rowsBefore,
              res.text,
            );
            if (target && (type === 'application/octet-stream' || type === '')) {
              // A refusal of the file itself: the worker's parser must refuse it too, or it is of the wrong
              // width, or not exactly as long as its header says (the upload check is stricter there).
              let parsed;
              try {
                parsed = parseActivations(bytes, 'refused upload');
              } catch (err) {
                assert.ok(err instanceof SaeFormatError, String(err));
              }
              if (parsed && parsed.dIn === sae.dIn) {
                const need = activationsHeaderSize(bytes)!;
                const exact = inspectActivationsHeader(bytes.subarray(0, need)).totalLength === bytes.length;
                assert.ok(!exact, `refused a valid file: ${res.text}`);
              }
            }
          }
        }),
      ),
      params,
    );
    await settleInFlight();
    await healthy();
    const keys = (
      (await db.query('SELECT object_key FROM evaluation WHERE run_id = $1', [runId])) as {
        object_key: string;
      }[]
    )
      .map((r) => r.object_key)
      .sort();
    assert.equal(keys.length, evaluationsBefore + accepted);
    assert.deepEqual(await objects(), keys, 'the object store holds exactly the accepted uploads');
    console.log(`PUT activations: ${requests} requests, ${accepted} accepted, seed ${SEED}`);
  },
);
