/** libs/sae: SAE file formats, activations, the CPU reference and the engine. No Nest here. */
export * from './types.js';
export * from './errors.js';
export * from './formats/dtype.js';
export * from './formats/safetensors.js';
export * from './formats/npy.js';
export * from './activations.js';
export * from './encode-inputs.js';
export * from './cpu/reference.js';
export * from './cpu/backend.js';
export * from './engine.js';
export * from './formats/byte-source.js';
export * from './formats/zip.js';
export * from './formats/npz.js';
export * from './loaders/index.js';
