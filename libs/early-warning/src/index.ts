export * from './early-warning.module.js';
export * from './early-warning.service.js';
