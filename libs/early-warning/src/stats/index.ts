export * from './cusum.js';
export * from './distributions.js';
export * from './paired.js';
export * from './trend.js';
