import { cpuEncodeStatsAsync } from './reference.js';
import {
  type Activations,
  type EncodeBackend,
  type EncodeOptions,
  type EncodeStats,
  type Sae,
} from '../types.js';

/** The CPU reference as an EncodeBackend: the fallback when there is no WebGPU adapter. Holds nothing. */
export class CpuBackend implements EncodeBackend {
  readonly name = 'cpu' as const;
  readonly adapter = 'cpu';
  readonly lost = false;

  encode(sae: Sae, activations: Activations, options?: EncodeOptions): Promise<EncodeStats> {
    return cpuEncodeStatsAsync(sae, activations, options);
  }

  release(_sae: Sae): void {}

  async dispose(): Promise<void> {}
}
