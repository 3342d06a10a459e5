// Test plans and functions of the simulated profile (the Python server's
// 99-custom.py): functions for `function_execute`, plans with custom
// annotations, nested runs and progress output.
import { plan, sleep, stubs } from "zqs/worker";
import { count } from "./15-plans.mjs";
import { det, det2, motor, motor1, motor2, sim_bundle_A, sim_bundle_B } from "./00-devices.mjs";

const { openRun, closeRun, mv: setMsg, triggerAndRead, sleep: sleepMsg } = stubs;

// ---- functions (function_execute) ----------------------------------------------------

class IndexError extends Error {
  name = "IndexError";
}

/** Prints 3 lines, sleeps `time` seconds (ends early when the task is cancelled), returns {success, time}. */
export async function function_sleep(time) {
  if (typeof time !== "number" || !Number.isFinite(time)) {
    const type = time === null ? "NoneType" : typeof time === "string" ? "str" : typeof time;
    throw new TypeError(`'${type}' object cannot be interpreted as a number of seconds`);
  }
  console.log("******** Starting the function 'function_sleep' ********");
  console.log(`Sleeping for ${time} seconds ...`);
  await sleep(time);
  console.log("******** Finished the function 'function_sleep' ********");
  return { success: true, time };
}

const buffer = [];

/** Appends an element to the FIFO buffer. */
export function push_buffer_element(element) {
  console.log(`Pushing the element ${JSON.stringify(element)} to the buffer`);
  buffer.push(element);
}

/** Removes the first element of the FIFO buffer and returns it. */
export function pop_buffer_element() {
  console.log("Popping an element from the buffer");
  if (buffer.length === 0) throw new IndexError("pop from empty list");
  return buffer.shift();
}

/** Empties the FIFO buffer. */
export function clear_buffer() {
  console.log("Clearing the buffer");
  buffer.length = 0;
}

// ---- plans -----------------------------------------------------------------------------

export const move_then_count = plan(
  async function* move_then_count(motors, detectors = null, positions = null) {
    if (!Array.isArray(motors)) {
      throw new TypeError(
        `Parameter 'motors' should be a list or a tuple: type(motors) = ${typeof motors}`,
      );
    }
    if (!Array.isArray(detectors)) {
      throw new TypeError(
        `Parameter 'detectors' should be a list or a tuple: type(detectors) = ${typeof detectors}`,
      );
    }
    if (!Array.isArray(positions)) {
      throw new TypeError(
        `Parameter 'positions' should be a list or a tuple: type(positions) = ${typeof positions}`,
      );
    }
    if (motors.length !== positions.length) {
      throw new TypeError(
        "The lists of 'motors' and 'positions' should have the same number of elements: " +
          `len(motors) = ${motors.length}, len(positions) = ${positions.length}`,
      );
    }
    for (let i = 0; i < motors.length; i++) yield setMsg(motors[i], positions[i]);
    yield* count(detectors);
  },
  {
    module: "__main__",
    description: "Move motors into positions; then count dets.",
    parameters: [
      {
        name: "motors",
        description: "List of motors to be moved into specified positions before the measurement",
        annotation: "typing.List[Motors]",
        devices: { Motors: ["motor1", "motor2"] },
        convertDeviceNames: true,
      },
      {
        name: "detectors",
        description: "Detectors to use for measurement.",
        annotation: "typing.List[Detectors]",
        devices: { Detectors: ["det1", "det2", "det3"] },
        convertDeviceNames: true,
        default: ["det1", "det2"],
      },
      {
        name: "positions",
        description:
          "Motor positions. The number of positions must be equal to the number of the motors.",
        annotation: "typing.List[float]",
        default: null,
      },
    ],
  },
);

export const marked_up_count = plan(
  async function* marked_up_count(detectors, num = 1, delay = null, md = null) {
    yield* count(detectors, num, delay ?? 0, { md });
  },
  {
    module: "__main__",
    parameters: [
      { name: "detectors", annotation: "typing.List[typing.Any]", convertDeviceNames: true },
      { name: "num", annotation: "int", default: 1 },
      { name: "delay", annotation: "typing.Optional[float]", default: null },
      { name: "md", annotation: "typing.Optional[typing.Dict[str, typing.Any]]", default: null },
    ],
  },
);

/** Dotted names of a device and its sub-devices (`sim_bundle_A.dets.det_A`). */
function deviceNames(name, dev) {
  const out = [name];
  for (const [k, c] of Object.entries(dev._cpts ?? {})) out.push(...deviceNames(`${name}.${k}`, c));
  return out;
}

export const count_bundle_test = plan(
  async function* count_bundle_test(
    detectors,
    num = 1,
    delay = null,
    { per_shot = null, md = null } = {},
  ) {
    yield* count(detectors, num, delay ?? 0, { per_shot, md });
  },
  {
    module: "__main__",
    parameters: [
      {
        name: "detectors",
        annotation: "typing.List[DetList]",
        devices: {
          DetList: [
            "det",
            "det1",
            "det2",
            "det3",
            ...deviceNames("sim_bundle_A", sim_bundle_A),
            ...deviceNames("sim_bundle_B", sim_bundle_B),
          ],
        },
        convertDeviceNames: true,
      },
      { name: "num", default: 1 },
      { name: "delay", default: null },
      { name: "per_shot", kind: "KEYWORD_ONLY", default: null },
      { name: "md", kind: "KEYWORD_ONLY", default: null },
    ],
  },
);

export const _sim_plan_inner = plan(
  async function* _sim_plan_inner(npts, delay = 1.0) {
    yield openRun({ plan_name: "_sim_plan_inner" });
    for (let j = 0; j < npts; j++) {
      yield setMsg(motor1, j * 0.1 + 1);
      yield setMsg(motor2, j * 0.2 - 2);
      yield triggerAndRead([motor1, motor2, det2]);
      yield sleepMsg(delay);
    }
    yield closeRun();
  },
  {
    module: "__main__",
    parameters: [
      { name: "npts", annotation: "int" },
      { name: "delay", annotation: "float", default: 1.0 },
    ],
  },
);

export const sim_multirun_plan_nested = plan(
  async function* sim_multirun_plan_nested(npts, delay = 1.0) {
    yield openRun({ plan_name: "sim_multirun_plan_nested" });
    const half = Math.floor(npts / 2);
    for (let j = 0; j < half; j++) {
      yield setMsg(motor, j * 0.2);
      yield triggerAndRead([motor, det]);
      yield sleepMsg(delay);
    }
    yield* _sim_plan_inner(npts + 1, delay);
    for (let j = half; j < npts; j++) {
      yield setMsg(motor, j * 0.2);
      yield triggerAndRead([motor, det]);
      yield sleepMsg(delay);
    }
    yield closeRun();
  },
  {
    module: "__main__",
    description:
      "Simulated multi-run plan: two nested runs. The plan is included for testing purposes only.",
    parameters: [
      {
        name: "npts",
        annotation: "int",
        description:
          "The number of measurements in the outer run. Inner run will contain 'npts+1' measurements.",
      },
      {
        name: "delay",
        annotation: "float",
        default: 1.0,
        description: "Delay between measurements.",
      },
    ],
  },
);

export const plan_test_progress_bars = plan(
  async function* plan_test_progress_bars(n_progress_bars = 1) {
    const steps = 10;
    for (let i = 1; i <= steps; i++) {
      yield sleepMsg(0.5);
      for (let b = 1; b <= n_progress_bars; b++) {
        const done = Math.round((i / steps) * 20);
        console.log(`Progress bar ${b}: [${"#".repeat(done)}${" ".repeat(20 - done)}] ${i * 10}%`);
      }
    }
  },
  {
    module: "__main__",
    description: "Test visualization of progress bars.",
    parameters: [
      {
        name: "n_progress_bars",
        annotation: "int",
        default: 1,
        description: "The number of progress bars to display.",
      },
    ],
  },
);
