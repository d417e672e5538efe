/** `npm run demo -- [flags]`: the demo's command line. */

export interface DemoOptions {
  /** End once the table is printed instead of serving until Ctrl-C. */
  exit: boolean;
  dIn: number;
  dSae: number;
  /** Checkpoints per run, the first being the base model (the baseline). */
  checkpoints: number;
  /** Training steps between checkpoints (the step numbers the API sees). */
  stepEvery: number;
  tokensPerPrompt: number;
  seed: number;
  workers: number;
}

export const DEFAULT_DEMO_OPTIONS: DemoOptions = {
  exit: false,
  dIn: 512,
  dSae: 4096,
  checkpoints: 12,
  stepEvery: 50,
  tokensPerPrompt: 24,
  seed: 1,
  workers: 2,
};

export const DEMO_USAGE = `usage: npm run demo -- [--exit] [--d-in N] [--d-sae N] [--steps N] [--seed N]
                        [--tokens N] [--step-every N] [--workers N]

  --exit          end when the result table is printed (default: keep serving the dashboard until Ctrl-C)
  --d-in N        residual-stream width of the simulated model (default 512)
  --d-sae N       latents of the simulated SAE (default 4096)
  --steps N       checkpoints per run, the first being the base model (default 12)
  --seed N        seed of the simulation; the same seed gives the same runs (default 1)
  --tokens N      tokens per evaluation prompt (default 24; eight prompts)
  --step-every N  training steps between checkpoints (default 50)
  --workers N     worker processes (default 2)`;

export class UsageError extends Error {}

const INT_FLAGS: Record<string, { key: keyof DemoOptions; min: number; max: number }> = {
  '--d-in': { key: 'dIn', min: 64, max: 16384 },
  '--d-sae': { key: 'dSae', min: 256, max: 1 << 20 },
  '--steps': { key: 'checkpoints', min: 4, max: 200 },
  '--step-every': { key: 'stepEvery', min: 1, max: 1_000_000 },
  '--tokens': { key: 'tokensPerPrompt', min: 4, max: 4096 },
  '--seed': { key: 'seed', min: 0, max: 2 ** 31 - 1 },
  '--workers': { key: 'workers', min: 1, max: 16 },
};

/** Parses the flags; throws UsageError naming the bad one. `--help` throws UsageError with no message. */
export function parseDemoArgs(argv: string[]): DemoOptions {
  const options = { ...DEFAULT_DEMO_OPTIONS };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2) as [string, string | undefined];
    if (flag === '--exit') {
      options.exit = true;
      continue;
    }
    if (flag === '--help' || flag === '-h') throw new UsageError('');
    const spec = INT_FLAGS[flag];
    if (!spec) throw new UsageError(`unknown flag ${flag}`);
    const raw = inline ?? argv[++i];
    if (raw === undefined || !/^\d+$/.test(raw))
      throw new UsageError(`${flag} needs an integer, got ${raw ?? 'nothing'}`);
    const value = Number(raw);
    if (value < spec.min || value > spec.max) {
      throw new UsageError(`${flag} must be between ${spec.min} and ${spec.max}, got ${value}`);
    }
    (options[spec.key] as number) = value;
  }
  return options;
}
