/**
 * The public surface, as an installed package shows it: each entry of the
 * package.json `exports` map exports exactly the names listed here — its
 * values at run time (the built JavaScript) and its types (the built
 * declaration files, read with TypeScript's parser: explicit lists only, no
 * `export *`). The manager↔worker IPC messages never appear.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

interface Surface {
  values: string[];
  types: string[];
}

const ROOT_ENTRY: Surface = {
  values: [
    "ALLOWED_TOP_LEVEL_KEYS",
    "CANCEL_OUTCOMES",
    "DecodeError",
    "ENCODINGS",
    "MANAGER_STATES",
    "METHOD_NAMES",
    "Manager",
    "OPTION_SPECS",
    "RE_STATES",
    "STATUS_KEYS",
    "TASK_STATES",
    "TASK_STATUSES",
    "TOPIC_CONSOLE",
    "TOPIC_INFO",
    "TOPIC_TASK",
    "VERSION",
    "WORKER_ENVIRONMENT_STATES",
    "checkEnvelope",
    "checkParams",
    "consolePayloadSchema",
    "createLogger",
    "decode",
    "defaultOptions",
    "detectEncoding",
    "encode",
    "failureExtras",
    "infoPayloadSchema",
    "isMethodName",
    "isPlainObject",
    "itemSchema",
    "lockFailure",
    "lockInfoSchema",
    "methodFailure",
    "methods",
    "paramIssueMessage",
    "paramsSchema",
    "pyClass",
    "pyNameOrList",
    "pyRepr",
    "pyTuple",
    "pyTypeName",
    "queueModeSchema",
    "resolveOptions",
    "statusSchema",
    "supportedParams",
    "taskInfoSchema",
    "taskResultSchema",
    "unknownMethodReply",
  ],
  types: [
    "Area",
    "ConsolePayload",
    "Encoding",
    "EnvelopeResult",
    "InfoPayload",
    "Item",
    "LockInfo",
    "LockKind",
    "ManagerOptions",
    "ManagerState",
    "MethodDef",
    "MethodName",
    "Methods",
    "ParamsIn",
    "ParamsOut",
    "ParamsResult",
    "QueueMode",
    "Reply",
    "ReplyOf",
    "Status",
    "TaskInfo",
    "TaskState",
    "TaskStatus",
    "WireEncoding",
    "WorkerEnvironmentState",
  ],
};

const CLIENT_ENTRY: Surface = {
  values: [
    "API_NAMES",
    "BFunc",
    "BInst",
    "BItem",
    "BPlan",
    "CHANGE_MARKERS",
    "ClientClosedError",
    "DEFAULT_CONTROL_ADDR",
    "DEFAULT_INFO_ADDR",
    "DEFAULT_USER",
    "DEFAULT_USER_GROUP",
    "ENV_CONTROL_ADDR",
    "ENV_INFO_ADDR",
    "ENV_PUBLIC_KEY",
    "IDEMPOTENCY_KEY_MAX",
    "ITEM_TYPES",
    "InfoMonitor",
    "POSITIONAL",
    "REManagerAPI",
    "REManagerAPISync",
    "RequestError",
    "RequestFailedError",
    "RequestParameterError",
    "RequestTimeoutError",
    "SyncMonitor",
    "WaitCancelError",
    "WaitError",
    "WaitMonitor",
    "WaitTimeoutError",
    "generateKeyPair",
    "publicKeyFromPrivate",
    "resolveClientOptions",
    "z85Decode",
    "z85Encode",
  ],
  types: [
    "ApiArgs",
    "CallOptions",
    "ClientOptions",
    "ConsolePayload",
    "ErrorCode",
    "InfoPayload",
    "ItemDict",
    "ItemType",
    "LockInfo",
    "ManagerSwitch",
    "MethodName",
    "ParamsIn",
    "ProtocolMethods",
    "ProtocolMethodsSync",
    "ReplyOf",
    "ResolvedOptions",
    "Status",
    "SyncTaskWaitOptions",
    "SyncWaitOptions",
    "TaskEventPayload",
    "WorkerEventPayload",
    "TaskEventsOptions",
    "TaskInfo",
    "TaskStatus",
    "TaskWaitOptions",
    "WaitOptions",
    "WaitProgress",
    "WireReply",
    "WireRequest",
  ],
};

const WORKER_ENTRY: Surface = {
  values: [
    "context",
    "device",
    "func",
    "plan",
    "setRunEngineMetadata",
    "sleep",
    "stubs",
    "SubtaskError",
  ],
  types: [
    "CallableMeta",
    "DeviceMeta",
    "ParameterKind",
    "ParameterMeta",
    "PlanMessage",
    "SubtaskOptions",
    "TaskContext",
    "TaskLogger",
  ],
};

const STUBS = ["checkpoint", "closeRun", "mv", "openRun", "read", "sleep", "triggerAndRead"];

const ENTRIES: Record<string, Surface> = {
  ".": ROOT_ENTRY,
  "./client": CLIENT_ENTRY,
  "./worker": WORKER_ENTRY,
};

const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  exports: Record<string, string | { types: string; default: string }>;
};

function entry(name: string): { types: string; default: string } {
  const e = pkg.exports[name];
  if (e === undefined || typeof e === "string")
    throw new Error(`exports["${name}"] is not an entry`);
  return { types: path.join(ROOT, e.types), default: path.join(ROOT, e.default) };
}

const hasExport = (node: ts.Node) =>
  ts.canHaveModifiers(node) &&
  (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);

/**
 * The names a declaration file exports, read with TypeScript's parser (no type
 * checker: every public entry lists its names). `export * from` is listed as "*".
 */
function declaredExports(file: string): Surface {
  const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  const values: string[] = [];
  const types: string[] = [];
  for (const st of sf.statements) {
    if (ts.isExportDeclaration(st)) {
      const clause = st.exportClause;
      if (!clause) values.push("*");
      else if (ts.isNamespaceExport(clause)) values.push(clause.name.text);
      else {
        for (const s of clause.elements) {
          (st.isTypeOnly || s.isTypeOnly ? types : values).push(s.name.text);
        }
      }
    } else if (ts.isExportAssignment(st)) values.push("default");
    else if (hasExport(st)) {
      if (ts.isVariableStatement(st)) {
        for (const d of st.declarationList.declarations) values.push(d.name.getText(sf));
      } else if (ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st)) {
        types.push(st.name.text);
      } else if (
        (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isEnumDeclaration(st)) &&
        st.name
      ) {
        values.push(st.name.text);
      } else values.push(`<${ts.SyntaxKind[st.kind]}>`);
    }
  }
  return { values: [...new Set(values)].sort(), types: [...new Set(types)].sort() };
}

const sorted = (names: string[]) => [...names].sort();

describe("the public entry points export exactly their lists", () => {
  it("the exports map has the three entries and package.json, nothing else", () => {
    expect(Object.keys(pkg.exports).sort()).toEqual([
      ".",
      "./client",
      "./package.json",
      "./worker",
    ]);
  });

  for (const [name, expected] of Object.entries(ENTRIES)) {
    it(`'${name}': the values at run time`, async () => {
      const mod = (await import(pathToFileURL(entry(name).default).href)) as Record<
        string,
        unknown
      >;
      expect(Object.keys(mod).sort()).toEqual(sorted(expected.values));
    });

    it(`'${name}': the values and types of its declarations`, () => {
      expect(declaredExports(entry(name).types)).toEqual({
        values: sorted(expected.values),
        types: sorted(expected.types),
      });
    });
  }

  it("the plan stubs namespace of 'zqs/worker'", async () => {
    const mod = (await import(pathToFileURL(entry("./worker").default).href)) as {
      stubs: Record<string, unknown>;
    };
    expect(Object.keys(mod.stubs).sort()).toEqual(STUBS);
  });

  it("no IPC message type or helper reaches a public entry", async () => {
    const ipc = declaredExports(path.join(ROOT, "dist/protocol/ipc.d.ts"));
    const ipcNames = [...ipc.values, ...ipc.types];
    expect(ipcNames).toContain("ManagerToWorker"); // the file was read
    for (const name of Object.keys(ENTRIES)) {
      const d = declaredExports(entry(name).types);
      expect(d.values, `${name}: an 'export *' could carry them`).not.toContain("*");
      const mod = (await import(pathToFileURL(entry(name).default).href)) as object;
      const names = [...d.values, ...d.types, ...Object.keys(mod)];
      expect(
        names.filter((n) => ipcNames.includes(n)),
        name,
      ).toEqual([]);
    }
  });
});
