/**
 * `sentinel submit`: uploads the activations of one checkpoint to the API (streamed from disk, never read
 * whole into memory) and prints the evaluation; with `--wait`, polls until it is done or failed.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CliUsageError, type Command } from '../cli-error.js';

const USAGE = `usage: sentinel submit --run <run id> --step <n> --activations <file> [options]

  --api <url>           the Sentinel API (default $SENTINEL_API or http://127.0.0.1:3000)
  --api-key <key>       sent as Authorization: Bearer <key> (default $SENTINEL_API_KEY)
  --run <id>            the run (POST /v1/runs) this checkpoint belongs to
  --step <n>            the checkpoint's training step
  --activations <path>  safetensors with "activations" [n_tokens, d_in] (and optional
                        "prompt_offsets"), or a .npy [n_tokens, d_in]
  --wait                wait until the evaluation is done or failed, and print it
  --timeout <seconds>   give up waiting after this long (default 1800)

Prints one JSON object: {evaluationId, status}, or with --wait the whole evaluation. Exit status 0 when
accepted (or done), 1 when refused or failed.`;

interface Options {
  api: string;
  apiKey?: string;
  run: string;
  step: number;
  activations: string;
  wait: boolean;
  timeoutS: number;
}

function parse(argv: string[]): Options {
  let values;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        api: { type: 'string', default: process.env.SENTINEL_API ?? 'http://127.0.0.1:3000' },
        'api-key': { type: 'string', default: process.env.SENTINEL_API_KEY },
        run: { type: 'string' },
        step: { type: 'string' },
        activations: { type: 'string' },
        wait: { type: 'boolean', default: false },
        timeout: { type: 'string', default: '1800' },
      },
    }).values;
  } catch (err) {
    throw new CliUsageError((err as Error).message);
  }
  for (const required of ['run', 'step', 'activations'] as const) {
    if (values[required] === undefined) throw new CliUsageError(`--${required} is required`);
  }
  if (!/^\d+$/.test(values.step!))
    throw new CliUsageError(`--step must be a non-negative integer, got "${values.step}"`);
  if (!/^\d+$/.test(values.timeout!))
    throw new CliUsageError(`--timeout must be whole seconds, got "${values.timeout}"`);
  try {
    new URL(values.api!);
  } catch {
    throw new CliUsageError(`--api must be a URL, got "${values.api}"`);
  }
  return {
    api: values.api!.replace(/\/+$/, ''),
    apiKey: values['api-key'] || undefined,
    run: values.run!,
    step: Number(values.step),
    activations: values.activations!,
    wait: values.wait!,
    timeoutS: Number(values.timeout),
  };
}

/** The API's `{message}` for a failed request, or the status line. */
async function failure(res: Response, what: string): Promise<Error> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { message?: string };
    if (body.message) message = `${res.status}: ${body.message}`;
  } catch {
    // Not JSON (a proxy's error page): the status line says enough.
  }
  return new Error(`${what} failed with ${message}`);
}

export async function submit(o: Options): Promise<{ evaluationId: string; status: string }> {
  let size: number;
  try {
    size = (await stat(o.activations)).size;
  } catch (err) {
    throw new Error(
      `${o.activations} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      { cause: err },
    );
  }
  const url = `${o.api}/v1/runs/${encodeURIComponent(o.run)}/checkpoints/${o.step}/activations`;
  const res = await fetch(url, {
    method: 'PUT',
    headers: {
      ...auth(o.apiKey),
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    },
    body: Readable.toWeb(createReadStream(o.activations)) as ReadableStream<Uint8Array>,
    duplex: 'half',
  } as RequestInit).catch((err: Error) => {
    throw new Error(`cannot reach the API at ${o.api} (${(err.cause as Error)?.message ?? err.message})`, {
      cause: err,
    });
  });
  if (res.status !== 202) throw await failure(res, `upload of ${o.activations}`);
  return (await res.json()) as { evaluationId: string; status: string };
}

function auth(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

export async function waitForEvaluation(
  api: string,
  id: string,
  timeoutS: number,
  apiKey?: string,
): Promise<{ status: string; error?: string }> {
  const deadline = Date.now() + timeoutS * 1000;
  let delay = 250;
  for (;;) {
    const res = await fetch(`${api}/v1/evaluations/${id}`, { headers: auth(apiKey) });
    if (!res.ok) throw await failure(res, `GET /v1/evaluations/${id}`);
    const evaluation = (await res.json()) as { status: string; error?: string };
    if (evaluation.status === 'done' || evaluation.status === 'failed') return evaluation;
    if (Date.now() > deadline) {
      throw new Error(`evaluation ${id} is still ${evaluation.status} after ${timeoutS} s (--timeout)`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 5_000);
  }
}

export const submitCommand: Command = {
  name: 'submit',
  summary: 'upload the activations of one checkpoint to the API (for training scripts)',
  usage: USAGE,
  async run(argv) {
    const o = parse(argv);
    const submitted = await submit(o);
    if (!o.wait) {
      process.stdout.write(`${JSON.stringify(submitted)}\n`);
      return 0;
    }
    const evaluation = await waitForEvaluation(o.api, submitted.evaluationId, o.timeoutS, o.apiKey);
    process.stdout.write(`${JSON.stringify(evaluation)}\n`);
    if (evaluation.status === 'failed') {
      process.stderr.write(
        `sentinel submit: evaluation ${submitted.evaluationId} failed: ${evaluation.error}\n`,
      );
      return 1;
    }
    return 0;
  },
};
