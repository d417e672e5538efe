/**
 * The one error type for input the SAE engine cannot honour: a weights file, a cfg.json or an
 * activations file that is malformed or does not match what the format requires. Its message always
 * starts with the file, then names the tensor (or cfg field) when there is one, what was found and what
 * was expected, so a person can fix the input from that single line.
 */
export interface SaeFormatErrorDetails {
  /** Tensor or cfg field the problem is in. */
  tensor?: string;
  /** What the format requires, e.g. "[512, 4096] (d_in × d_sae from b_enc)". */
  expected?: string;
  /** What the file holds, e.g. "[512, 100]". */
  got?: string;
}

export class SaeFormatError extends Error {
  override readonly name = 'SaeFormatError';
  readonly file: string;
  readonly tensor?: string;
  readonly expected?: string;
  readonly got?: string;

  /**
   * @param file the file (or folder) the problem is in, as the user named it
   * @param problem what is wrong, phrased to follow the tensor name: `has shape [512, 100]`
   */
  constructor(file: string, problem: string, details: SaeFormatErrorDetails = {}) {
    const subject = details.tensor === undefined ? '' : `tensor "${details.tensor}" `;
    const expected = details.expected === undefined ? '' : `, expected ${details.expected}`;
    super(`${file}: ${subject}${problem}${expected}`);
    this.file = file;
    this.tensor = details.tensor;
    this.expected = details.expected;
    this.got = details.got;
  }
}

/** `[2, 3]`: shapes in messages are written the way Python prints them in lists. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * An SAE and activations (or options) that cannot be encoded together, e.g. activations of width 768
 * for an SAE with d_in 2304. Each file may be fine on its own; the combination is not.
 */
export class EncodeInputError extends Error {
  override readonly name = 'EncodeInputError';
}
