export * from "./codec.js";
export * from "./methods.js";
export * from "./request.js";
export * from "./schemas.js";
export * from "./pyrepr.js";
export * from "./info.js";
