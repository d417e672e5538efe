import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { SENTINEL_CONFIG, type SentinelConfig } from '../../../../libs/common/src/index.js';
import { createEngine, type EncodeBackend } from '../../../../libs/sae/src/index.js';

/**
 * The process's one encode backend (WebGPU, or the CPU reference when there is no adapter), created on
 * first use, replaced when its GPU device was lost (the evaluation that met the loss is retried), and
 * disposed after the transport has drained.
 */
@Injectable()
export class EngineService implements OnApplicationShutdown {
  private readonly logger = new Logger(EngineService.name);
  private backend?: Promise<EncodeBackend>;

  constructor(@Inject(SENTINEL_CONFIG) private readonly config: SentinelConfig) {}

  async get(): Promise<EncodeBackend> {
    const current = await this.backend?.catch(() => undefined);
    if (current?.lost) {
      this.logger.warn({ backend: current.name, adapter: current.adapter }, 'GPU device lost: new backend');
      this.backend = undefined;
      await current.dispose().catch(() => undefined);
    }
    this.backend ??= createEngine({ backend: this.config.engineBackend, f16: this.config.engineF16 }).then(
      (b) => {
        this.logger.log({ backend: b.name, adapter: b.adapter }, 'encode backend ready');
        return b;
      },
      (err: unknown) => {
        this.backend = undefined;
        throw err;
      },
    );
    return this.backend;
  }

  async onApplicationShutdown(): Promise<void> {
    const backend = await this.backend?.catch(() => undefined);
    await backend?.dispose();
  }
}
