export * from './names.js';
export * from './nats.module.js';
