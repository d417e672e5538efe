export * from './load-sae.js';
export * from './writers.js';
export { parseSaeLensCfg, parseSparsifyCfg, parseCfgJson } from './cfg.js';
export { transpose } from './assemble.js';
