/**
 * Detector settings. Every watched latent and direction gets the defaults below; a watchlist entry's
 * `rules` jsonb overrides any of them, e.g. `{"threshold": {"minEffect": 1}, "trend": {"enabled": false}}`.
 * docs/early-warning.md explains each number.
 */

export const SEVERITIES = ['watch', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const RULES = ['threshold', 'cusum', 'trend'] as const;
export type RuleName = (typeof RULES)[number];

export function severityRank(severity: Severity | null | undefined): number {
  return severity ? SEVERITIES.indexOf(severity) + 1 : 0;
}

export interface RuleSettings {
  /** One checkpoint: one-sided paired p-value below pMax and effect (z) at least minEffect. */
  threshold: { enabled: boolean; severity: Severity; pMax: number; minEffect: number };
  /** Upper CUSUM of the effect z, clipped to ±clip: S = max(0, S + min(z, clip) − k), alarm when S > h. */
  cusum: { enabled: boolean; severity: Severity; k: number; h: number; clip: number };
  /** Mann–Kendall over the last `window` checkpoints' deltas, plus a positive Theil–Sen slope. */
  trend: {
    enabled: boolean;
    severity: Severity;
    window: number;
    minPoints: number;
    pMax: number;
    minEffect: number;
  };
  /** An open alert resolves at the first checkpoint back within the baseline's bounds. */
  resolve: { pMin: number; maxEffect: number };
}

export const DEFAULT_RULES: RuleSettings = Object.freeze({
  threshold: { enabled: true, severity: 'warning', pMax: 1e-4, minEffect: 1 },
  cusum: { enabled: true, severity: 'critical', k: 0.75, h: 4, clip: 2 },
  trend: { enabled: true, severity: 'watch', window: 10, minPoints: 6, pMax: 0.01, minEffect: 0.5 },
  resolve: { pMin: 0.05, maxEffect: 0.2 },
}) as RuleSettings;

export class RulesError extends Error {}

/**
 * The defaults overlaid with a watchlist entry's `rules`. Unknown keys and values of the wrong type are
 * rejected (RulesError), so a typo in a watchlist never silently disables a detector.
 */
export function resolveRules(overrides: unknown): RuleSettings {
  const out = structuredClone(DEFAULT_RULES) as unknown as Record<string, Record<string, unknown>>;
  if (overrides === null || overrides === undefined) return out as unknown as RuleSettings;
  if (typeof overrides !== 'object' || Array.isArray(overrides))
    throw new RulesError('rules must be an object');
  for (const [section, values] of Object.entries(overrides as Record<string, unknown>)) {
    const defaults = out[section];
    if (!defaults) throw new RulesError(`unknown rule "${section}" (known: ${Object.keys(out).join(', ')})`);
    if (typeof values !== 'object' || values === null || Array.isArray(values)) {
      throw new RulesError(`rules.${section} must be an object`);
    }
    for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
      if (!(key in defaults)) throw new RulesError(`unknown setting rules.${section}.${key}`);
      const expected = typeof defaults[key];
      if (key === 'severity') {
        if (!SEVERITIES.includes(value as Severity)) {
          throw new RulesError(`rules.${section}.severity must be one of ${SEVERITIES.join(', ')}`);
        }
      } else if (typeof value !== expected || (expected === 'number' && !Number.isFinite(value))) {
        throw new RulesError(`rules.${section}.${key} must be a ${expected}`);
      }
      defaults[key] = value;
    }
  }
  const rules = out as unknown as RuleSettings;
  if (rules.trend.window < 3 || rules.trend.minPoints < 3 || rules.trend.minPoints > rules.trend.window) {
    throw new RulesError('rules.trend needs 3 ≤ minPoints ≤ window');
  }
  return rules;
}
