export * from './data-source.js';
export * from './entities/index.js';
export * from './migrations.js';
export * from './persistence.module.js';
