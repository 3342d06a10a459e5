export * from "./codec.js";
export * from "./limits.js";
export * from "./methods.js";
export * from "./request.js";
export * from "./schemas.js";
export * from "./pyrepr.js";
export * from "./own.js";
export * from "./info.js";
