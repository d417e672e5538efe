export * from './bootstrap.js';
export * from './config/config.js';
export * from './config/config.module.js';
export * from './health/health.module.js';
export * from './health/health.service.js';
export * from './logging/logger.js';
export * from './logging/request-id.middleware.js';
