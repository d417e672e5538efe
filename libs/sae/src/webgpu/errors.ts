/**
 * Failures of the GPU itself, as opposed to bad input (EncodeInputError): a caller (the worker) can
 * retry these, on a fresh backend for device loss or with a smaller plan / another worker for memory.
 */
export class GpuError extends Error {
  /** The same request may succeed later (a new device, less memory pressure). */
  readonly retryable: boolean = true;
}

/** Allocation failed on the device, or the encode's memory plan does not fit the budget it was given. */
export class GpuOutOfMemoryError extends GpuError {
  override readonly name = 'GpuOutOfMemoryError';
}

/** The device was lost (driver reset, GPU fell off the bus, destroyed). Create a new backend to retry. */
export class GpuDeviceLostError extends GpuError {
  override readonly name = 'GpuDeviceLostError';
}
