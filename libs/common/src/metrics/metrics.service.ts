import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One prom-client registry per process (the API and each worker expose their own `/metrics`), so tests
 * that start several apps in one process never share or double-register metrics.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'sentinel_' });
  }

  counter<T extends string>(name: string, help: string, labelNames: readonly T[] = []): Counter<T> {
    return this.existing(name) ?? new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<T extends string>(
    name: string,
    help: string,
    labelNames: readonly T[] = [],
    collect?: (this: Gauge<T>) => void | Promise<void>,
  ): Gauge<T> {
    return this.existing(name) ?? new Gauge({ name, help, labelNames, collect, registers: [this.registry] });
  }

  histogram<T extends string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly T[] = [],
  ): Histogram<T> {
    return (
      this.existing(name) ?? new Histogram({ name, help, buckets, labelNames, registers: [this.registry] })
    );
  }

  // A second feature asking for the same metric gets the first one instead of a "already registered" throw.
  private existing<M>(name: string): M | undefined {
    return this.registry.getSingleMetric(name) as M | undefined;
  }
}
