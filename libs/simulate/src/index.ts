export * from './activations.js';
export * from './files.js';
export * from './prompts.js';
export * from './rng.js';
export * from './run.js';
export * from './sae.js';
export * from './scenarios.js';
