/**
 * The import rules of src/ (docs/architecture.md, "Import rules"), checked by
 * `npm run lint:deps` (part of `npm run lint`, so of `npm test`).
 *
 * Violations that were there when a rule was written and are not fixed yet
 * would be listed in .dependency-cruiser-known-violations.json (none today):
 * each a to-do, while a new one fails. Fixing one: drop its entry (or run
 * `npm run lint:deps:baseline` after the fix).
 */

/** An area of the manager: a folder of src/manager/ (access, environment, queue, rpc, ...). */
const AREA = "^src/manager/([^/]+)/";

/**
 * What one area may import of another: its contracts (the context it is given,
 * its types, the pool interface, its events) and a few modules written to be
 * shared: the requester checks of access, the one way to send on a ZeroMQ
 * socket (rpc/sendqueue.ts) and to receive on a ROUTER (rpc/router-loop.ts),
 * the task record types (tasks/task-record.ts) and the dispatcher's handler
 * types (by type only: see `areas-refuse-with-errors`).
 */
const CONTRACTS = [
  "^src/manager/[^/]+/(context|types|pool|events)\\.ts$",
  "^src/manager/access/requester\\.ts$",
  "^src/manager/rpc/sendqueue\\.ts$",
  "^src/manager/rpc/router-loop\\.ts$",
  "^src/manager/tasks/task-record\\.ts$",
  "^src/manager/rpc/dispatch\\.ts$",
];

/** Everything in src/ that is not the manager. */
const OUTSIDE = [
  "http",
  "client",
  "cli",
  "worker",
  "remote-worker",
  "worker-host",
  "protocol",
  "options",
];
const dirs = (names) => `^src/(${names.join("|")})/`;

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment:
        "No cycle of imports that run (type-only imports aside: see no-circular-types). A cycle means two modules that cannot be understood, tested or loaded apart.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "no-circular-types",
      comment:
        "No cycle of type imports either: every context is an interface in its area's context.ts (or types.ts), naming no class of its area, so nothing comes back round.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "daemon-is-the-root",
      comment:
        "src/manager/daemon.ts is the composition root: nothing in the manager imports it (only `zqs manager` builds it, the package entry exports it, and standby.ts, the root of a --standby manager, builds one each time it takes the store over).",
      severity: "error",
      from: {
        path: "^src/",
        pathNot: "^src/(manager/daemon|manager/standby|cli/commands/manager|index)\\.ts$",
      },
      to: { path: "^src/manager/daemon\\.ts$" },
    },
    {
      name: "areas-through-contracts",
      comment:
        "An area of the manager reaches another only through that area's contracts (context.ts, types.ts, pool.ts, events.ts) or the modules written to be shared (see CONTRACTS), never its concrete classes or handlers. Top-level modules of src/manager (activity, state, errors, log, options...) are shared by all.",
      severity: "error",
      from: { path: AREA },
      to: { path: "^src/manager/[^/]+/", pathNot: ["^src/manager/$1/", ...CONTRACTS] },
    },
    {
      name: "areas-refuse-with-errors",
      comment:
        "An area refuses a request with RequestError (src/manager/errors.ts) and may name the dispatcher's handler types; it never imports the dispatcher's code.",
      severity: "error",
      from: { path: "^src/manager/", pathNot: "^src/manager/(rpc/|daemon\\.ts$)" },
      to: { path: "^src/manager/rpc/dispatch\\.ts$", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "outside-not-manager",
      comment:
        "The client library, the worker process, the zqs worker agent, the worker host, the protocol, the option tables' type (src/options) and the HTTP gateway never import the manager (the gateway is a client of it).",
      severity: "error",
      from: { path: dirs(OUTSIDE.filter((d) => d !== "cli")) },
      to: { path: "^src/manager/" },
    },
    {
      name: "protocol-is-a-leaf",
      comment:
        "src/protocol is the one source of truth the others import; it imports nothing of theirs.",
      severity: "error",
      from: { path: "^src/protocol/" },
      to: { path: dirs(OUTSIDE.filter((d) => d !== "protocol").concat("manager")) },
    },
    {
      name: "client-stands-alone",
      comment:
        "The client library (zqs/client) needs only the protocol: not the gateway, the CLI, the worker or its host.",
      severity: "error",
      from: { path: "^src/client/" },
      to: { path: dirs(["http", "cli", "worker", "remote-worker", "worker-host"]) },
    },
    {
      name: "worker-needs-only-protocol",
      comment:
        "The forked worker process (src/worker) speaks the protocol and nothing else of zqs: it is loaded in every worker, and is the `zqs/worker` export.",
      severity: "error",
      from: { path: "^src/worker/" },
      to: { path: dirs(["http", "client", "cli", "remote-worker", "worker-host"]) },
    },
    {
      name: "not-to-unresolvable",
      comment: "An import that resolves to nothing.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
    // Type-only imports are dependencies too: the layering is about what a module names.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      extensions: [".ts", ".js", ".mjs", ".cjs", ".d.ts"],
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default"],
    },
  },
};
