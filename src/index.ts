/** zqs: the public surface of the package root (protocol types and the manager). */
export * from "./protocol/index.js";
export { Manager } from "./manager/manager.js";
export type { ManagerOptions } from "./manager/options.js";
export { OPTION_SPECS, resolveOptions, defaultOptions } from "./manager/options.js";
export { createLogger } from "./manager/log.js";
export { VERSION } from "./version.js";
