import assert from 'node:assert/strict';
import { test } from 'node:test';
import { activationsHeaderSize, inspectActivationsHeader, parseActivations } from './activations.js';
import { SaeFormatError } from './errors.js';
import { writeNpy } from './formats/npy.js';
import { writeSafetensors, type TensorToWrite } from './formats/safetensors.js';

const data = [1, 2, 3, 4, 5, 6]; // 3 tokens × d_in 2

function file(tensors: Record<string, TensorToWrite>): Buffer {
  return writeSafetensors(tensors);
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parseActivations(bytes, 'acts.safetensors'),
    (err: unknown) =>
      err instanceof SaeFormatError &&
      err.message.startsWith('acts.safetensors: ') &&
      pattern.test(err.message),
    String(pattern),
  );
}

test('parses activations with I32 or I64 prompt offsets, in F32/F16/BF16', () => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    for (const offsetsDtype of ['I32', 'I64'] as const) {
      const acts = parseActivations(
        file({
          activations: { dtype, shape: [3, 2], data },
          prompt_offsets: { dtype: offsetsDtype, shape: [3], data: [0, 1, 3] },
        }),
        'a',
      );
      assert.equal(acts.nTokens, 3);
      assert.equal(acts.dIn, 2);
      assert.deepEqual([...acts.data], data);
      assert.deepEqual([...acts.promptOffsets!], [0, 1, 3]);
    }
  }
  const plain = parseActivations(file({ activations: { dtype: 'F32', shape: [3, 2], data } }), 'a');
  assert.equal(plain.promptOffsets, undefined);
});

test('parses a plain .npy [n_tokens, d_in]', () => {
  const acts = parseActivations(writeNpy({ dtype: 'F16', shape: [3, 2], data }), 'a.npy');
  assert.deepEqual([acts.nTokens, acts.dIn, [...acts.data]], [3, 2, data]);
  assert.throws(
    () => parseActivations(writeNpy({ dtype: 'F32', shape: [6], data }), 'a.npy'),
    /a.npy: has shape \[6\], expected \[n_tokens, d_in\]/,
  );
});

test('names the first token holding NaN or Inf', () => {
  rejects(
    file({ activations: { dtype: 'F32', shape: [3, 2], data: [1, 2, 3, NaN, 5, Infinity] } }),
    /tensor "activations" has NaN at token 1 \(element \[1, 1\]\)/,
  );
  rejects(
    file({ activations: { dtype: 'F16', shape: [3, 2], data: [1, 2, 3, 4, 1e9, 1] } }),
    /has Infinity at token 2/,
  );
});

test('rejects missing tensors, wrong dtypes, wrong shapes and bad prompt offsets', () => {
  rejects(
    file({ acts: { dtype: 'F32', shape: [3, 2], data } }),
    /has no tensor "activations" \(tensors: "acts"\)/,
  );
  rejects(
    file({ activations: { dtype: 'I32', shape: [3, 2], data } }),
    /tensor "activations" has dtype I32, expected F32, F16 or BF16/,
  );
  rejects(
    file({ activations: { dtype: 'F32', shape: [6], data } }),
    /tensor "activations" has shape \[6\], expected \[n_tokens, d_in\]/,
  );
  rejects(file({ activations: { dtype: 'F32', shape: [0, 2], data: [] } }), /has shape \[0, 2\]/);
  const withOffsets = (dtype: 'I32' | 'F32', values: number[]) =>
    file({
      activations: { dtype: 'F32', shape: [3, 2], data },
      prompt_offsets: { dtype, shape: [values.length], data: values },
    });
  rejects(withOffsets('F32', [0, 3]), /tensor "prompt_offsets" has dtype F32, expected I32 or I64/);
  rejects(withOffsets('I32', [1, 3]), /tensor "prompt_offsets" starts at 1, expected 0/);
  rejects(
    withOffsets('I32', [0, 2, 1, 3]),
    /has 1 at index 2 after 2, expected non-decreasing offsets within 0..3/,
  );
  rejects(withOffsets('I32', [0, 2]), /ends at 2, expected 3 \(n_tokens/);
  rejects(withOffsets('I32', [0, 9]), /has 9 at index 1/);
  rejects(withOffsets('I32', [0]), /has shape \[1\], expected \[n_prompts \+ 1\]/);
});

test('inspectActivationsHeader judges an upload from its header alone', () => {
  const whole = file({
    activations: { dtype: 'BF16', shape: [3, 2], data },
    prompt_offsets: { dtype: 'I64', shape: [3], data: [0, 1, 3] },
  });
  assert.equal(activationsHeaderSize(whole.subarray(0, 11)), null);
  const size = activationsHeaderSize(whole.subarray(0, 12))!;
  const info = inspectActivationsHeader(whole.subarray(0, size));
  assert.deepEqual(info, {
    format: 'safetensors',
    nTokens: 3,
    dIn: 2,
    dtype: 'BF16',
    hasPromptOffsets: true,
    nPrompts: 2,
    headerLength: size,
    dataLength: 3 * 8 + 12,
    totalLength: whole.byteLength,
  });
  const npy = writeNpy({ dtype: 'F32', shape: [3, 2], data });
  const npySize = activationsHeaderSize(npy)!;
  assert.equal(inspectActivationsHeader(npy.subarray(0, npySize)).totalLength, npy.byteLength);
  const bad = file({ x: { dtype: 'F32', shape: [1], data: [1] } });
  assert.throws(
    () => inspectActivationsHeader(bad, 'upload'),
    /^SaeFormatError: upload: has no tensor "activations"/,
  );
});
