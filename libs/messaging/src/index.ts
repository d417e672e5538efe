export * from './names.js';
export * from './nats.module.js';
export * from './nats-permissions.js';
export * from './work-queue.js';
export * from './work-queue.module.js';
export * from './sae-objects.js';
