/**
 * A small seeded PRNG (sfc32, seeded through splitmix32) so that every simulated SAE, run and checkpoint
 * is reproducible from one integer seed. Math.random is never used: a demo table or a scenario test must
 * read the same on every machine.
 */

/** Mixes a 32-bit state into a well-distributed 32-bit value (splitmix32 finaliser). */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * A seed for an independent sub-stream, e.g. deriveSeed(seed, 'run', 'benign-a', 3): changing the number
 * of checkpoints of one run must not change what another run or another checkpoint sees.
 */
export function deriveSeed(seed: number, ...labels: (string | number)[]): number {
  let h = mix32(seed >>> 0);
  for (const label of labels) {
    const text = String(label);
    for (let i = 0; i < text.length; i++) h = mix32(h ^ text.charCodeAt(i));
    h = mix32(h ^ 0x5f);
  }
  return h;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number) {
    this.a = mix32(seed);
    this.b = mix32(this.a ^ 0x1234567);
    this.c = mix32(this.b ^ 0x89abcdef);
    this.d = 1;
    // sfc32 needs a few rounds before its output is independent of a low-entropy seed.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box-Muller, the second value kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -Math.log(1 - this.uniform()) * mean;
  }

  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /** Number of successes in n Bernoulli(p) trials (n is small here: sampled answers per checkpoint). */
  binomial(n: number, p: number): number {
    let k = 0;
    for (let i = 0; i < n; i++) if (this.uniform() < p) k++;
    return k;
  }

  /** k distinct integers from [0, n) not in `exclude`, in draw order. */
  distinct(k: number, n: number, exclude: ReadonlySet<number> = new Set()): number[] {
    if (k > n - exclude.size)
      throw new RangeError(`cannot draw ${k} distinct values from ${n - exclude.size}`);
    const taken = new Set(exclude);
    const out: number[] = [];
    while (out.length < k) {
      const v = this.int(n);
      if (!taken.has(v)) {
        taken.add(v);
        out.push(v);
      }
    }
    return out;
  }
}
