// Plans mirroring `bluesky.plans` and `bluesky.plan_stubs` as the Python
// server's simulated profile offers them: the same names, parameters, defaults
// and descriptions, simulated with zqs plan messages.
//
// How Python-style calls arrive (see zqs docs): positional parameters in
// order; `*args` as ONE array when keyword parameters follow it; keyword-only
// parameters and `**kwargs` in a trailing options object. So Python's
// `scan(detectors, *args, num=None, per_step=None, md=None)` is
// `scan(detectors, args, { num, per_step, md } = {})` here.
import { plan, stubs } from "zqs/worker";

const {
  openRun,
  closeRun,
  mv: setMsg,
  read: readMsg,
  triggerAndRead,
  sleep: sleepMsg,
  checkpoint,
} = stubs;

const PLANS = "bluesky.plans";
const STUBS = "bluesky.plan_stubs";

class ValueError extends Error {
  name = "ValueError";
}

// ---- parameter descriptions shared by the plans -------------------------------------

const SETTABLE = "any 'settable' object (motor, temp controller, etc.)";
const PER_STEP_DOC =
  "hook for customizing action of inner loop (messages per step).\n" +
  "See docstring of :func:`bluesky.plan_stubs.one_nd_step` (the default)\nfor details.";
const SNAKE_DOC =
  "which axes should be snaked, either ``False`` (do not snake any axes),\n" +
  '``True`` (snake all axes) or a list of axes to snake. "Snaking" an axis\n' +
  "is defined as following snake-like, winding trajectory instead of a\n" +
  "simple left-to-right trajectory. The elements of the list are motors\n" +
  "that are listed in `args`. The list must not contain the slowest\n" +
  "(first) motor, since it can't be snaked.";

const detectorsP = {
  name: "detectors",
  description: "list of 'readable' objects",
  annotation: "collections.abc.Sequence[__READABLE__]",
  convertDeviceNames: true,
};
const motorP = (name = "motor") => ({
  name,
  description: SETTABLE,
  annotation: "__MOVABLE__",
  convertDeviceNames: true,
});
const floatP = (name, description, extra = {}) => ({
  name,
  description,
  annotation: "float",
  ...extra,
});
const intP = (name, description, extra = {}) => ({
  name,
  description,
  annotation: "int",
  ...extra,
});
const mdP = {
  name: "md",
  kind: "KEYWORD_ONLY",
  description: "metadata",
  annotation: "typing.Optional[dict[str, typing.Any]]",
  default: null,
};
const perStepP = (description = PER_STEP_DOC) => ({
  name: "per_step",
  kind: "KEYWORD_ONLY",
  description,
  default: null,
});
const argsP = (description) => ({
  name: "args",
  kind: "VAR_POSITIONAL",
  description,
  annotation: "typing.Union[__MOVABLE__, typing.Any]",
  convertDeviceNames: true,
});
const snakeP = (def) => ({
  name: "snake_axes",
  kind: "KEYWORD_ONLY",
  description: SNAKE_DOC,
  annotation: "typing.Union[collections.abc.Iterable[typing.Any], bool, NoneType]",
  default: def,
});

// ---- helpers -------------------------------------------------------------------------

const nameOf = (d) =>
  d && typeof d === "object" && typeof d.name === "string" ? d.name : String(d);
const names = (list) => list.map(nameOf);
const unique = (list) => [...new Set(list)];

function asList(value, what) {
  if (Array.isArray(value)) return value;
  if (value === null || value === undefined)
    throw new TypeError(`'${what}' must be a list, got None`);
  return [value];
}

function positiveInt(value, what) {
  if (!Number.isInteger(value) || value < 1) {
    throw new ValueError(`'${what}' must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function linspace(start, stop, num) {
  if (num === 1) return [start];
  return Array.from({ length: num }, (_, i) => start + ((stop - start) * i) / (num - 1));
}

function chunks(args, size, planName, pattern) {
  if (args.length === 0 || args.length % size !== 0) {
    throw new ValueError(
      `${planName}: the arguments must be given as ${pattern}, got ${args.length} value(s)`,
    );
  }
  const out = [];
  for (let i = 0; i < args.length; i += size) out.push(args.slice(i, i + size));
  return out;
}

function checkPerStep(perStep) {
  if (perStep !== null && perStep !== undefined && typeof perStep !== "function") {
    throw new TypeError("'per_step' must be a plan function (a generator function) or None");
  }
  return perStep ?? null;
}

/** The current position of a movable device (read when it has no `position`). */
async function* positionOf(motor) {
  if (motor && typeof motor === "object" && typeof motor.position === "number")
    return motor.position;
  const reading = yield readMsg(motor);
  const first = Object.values(reading ?? {})[0];
  return first && typeof first === "object" ? first.value : first;
}

/** Move motors (pairs of [motor, position]), then trigger and read detectors and motors. */
async function* oneStep(detectors, pairs, perStep) {
  if (perStep) return yield* perStep(detectors, pairs);
  for (const [m, v] of pairs) yield setMsg(m, v);
  return yield triggerAndRead(unique([...detectors, ...pairs.map(([m]) => m)]));
}

/** A run visiting `points` (each a list of positions, one per motor). */
async function* scanPoints(
  planName,
  detectors,
  motors,
  points,
  { perStep = null, md = null, extra = {} } = {},
) {
  detectors = asList(detectors, "detectors");
  yield openRun({
    plan_name: planName,
    detectors: names(detectors),
    motors: names(motors),
    num_points: points.length,
    ...extra,
    ...(md ?? {}),
  });
  for (const pt of points) {
    yield* oneStep(
      detectors,
      motors.map((m, i) => [m, pt[i]]),
      perStep,
    );
  }
  yield closeRun();
}

/** Run `body(startPositions)`, then move the motors back where they were (also on stop/abort). */
async function* relative(motors, body) {
  const start = [];
  for (const m of motors) start.push(yield* positionOf(m));
  try {
    return yield* body(start);
  } finally {
    for (let i = 0; i < motors.length; i++) yield setMsg(motors[i], start[i]);
  }
}

function gridPoints(axes) {
  let out = [[]];
  for (const ax of axes) {
    const next = [];
    out.forEach((prefix, idx) => {
      const positions = ax.snake && idx % 2 === 1 ? [...ax.positions].reverse() : ax.positions;
      for (const p of positions) next.push([...prefix, p]);
    });
    out = next;
  }
  return out;
}

function snakeFlags(motors, snakeAxes) {
  if (snakeAxes === true) return motors.map((_, i) => i > 0);
  if (!snakeAxes) return motors.map(() => false);
  const list = asList(snakeAxes, "snake_axes");
  if (list.includes(motors[0])) throw new ValueError("The first (slowest) motor can not be snaked");
  return motors.map((m) => list.includes(m));
}

// ---- count ---------------------------------------------------------------------------

export const count = plan(
  async function* count(detectors, num = 1, delay = 0.0, { per_shot = null, md = null } = {}) {
    detectors = asList(detectors, "detectors");
    if (num !== null) positiveInt(num, "num");
    const perShot = checkPerStep(per_shot);
    yield openRun({
      plan_name: "count",
      detectors: names(detectors),
      num_points: num,
      ...(md ?? {}),
    });
    for (let i = 0; num === null || i < num; i++) {
      if (i > 0) {
        const d = Array.isArray(delay) ? delay[i - 1] : delay;
        if (d === undefined)
          throw new ValueError(`num=${num} but delays only provides ${delay.length} entries`);
        if (d) yield sleepMsg(d);
      }
      yield checkpoint();
      if (perShot) yield* perShot(detectors);
      else yield triggerAndRead(detectors);
    }
    yield closeRun();
  },
  {
    module: PLANS,
    description: "Take one or more readings from detectors.",
    parameters: [
      detectorsP,
      {
        name: "num",
        description:
          "number of readings to take; default is 1\n\nIf None, capture data until canceled",
        annotation: "typing.Optional[int]",
        default: 1,
      },
      {
        name: "delay",
        description: "Time delay in seconds between successive readings; default is 0.",
        annotation: "typing.Union[float, collections.abc.Iterable[float]]",
        default: 0.0,
      },
      {
        name: "per_shot",
        kind: "KEYWORD_ONLY",
        description:
          "hook for customizing action of inner loop (messages per step)\nExpected signature ::\n\n" +
          "   def f(detectors: Iterable[OphydObj]) -> Generator[Msg]:\n       ...",
        default: null,
      },
      mdP,
    ],
  },
);

// ---- scans over trajectories ---------------------------------------------------------

const SCAN_ARGS_DOC =
  "For one dimension, ``motor, start, stop``.\nIn general:\n\n.. code-block:: python\n\n" +
  "    motor1, start1, stop1,\n    motor2, start2, stop2,\n    ...,\n    motorN, startN, stopN\n\n" +
  "Motors can be any 'settable' object (motor, temp controller, etc.)";

function scanTrajectory(planName, args, num) {
  args = [...asList(args, "args")];
  if (num === null || num === undefined) {
    if (args.length % 3 === 1) num = args.pop();
    else {
      throw new ValueError(
        "The number of points to scan must be provided as the value of the 'num' argument",
      );
    }
  }
  positiveInt(num, "num");
  const triples = chunks(args, 3, planName, "motor, start, stop, ...");
  return { motors: triples.map((t) => t[0]), triples, num };
}

const scanMeta = (description) => ({
  module: PLANS,
  description,
  parameters: [
    detectorsP,
    argsP(SCAN_ARGS_DOC),
    {
      name: "num",
      kind: "KEYWORD_ONLY",
      description: "number of points",
      annotation: "typing.Optional[int]",
      default: null,
    },
    perStepP(),
    mdP,
  ],
});

export const scan = plan(async function* scan(
  detectors,
  args,
  { num = null, per_step = null, md = null } = {},
) {
  const t = scanTrajectory("scan", args, num);
  const points = Array.from({ length: t.num }, (_, i) =>
    t.triples.map(([, a, b]) => linspace(a, b, t.num)[i]),
  );
  yield* scanPoints("scan", detectors, t.motors, points, { perStep: checkPerStep(per_step), md });
}, scanMeta("Scan over one multi-motor trajectory."));

export const rel_scan = plan(async function* rel_scan(
  detectors,
  args,
  { num = null, per_step = null, md = null } = {},
) {
  const t = scanTrajectory("rel_scan", args, num);
  yield* relative(t.motors, async function* (start) {
    const points = Array.from({ length: t.num }, (_, i) =>
      t.triples.map(([, a, b], k) => start[k] + linspace(a, b, t.num)[i]),
    );
    yield* scanPoints("rel_scan", detectors, t.motors, points, {
      perStep: checkPerStep(per_step),
      md,
    });
  });
}, scanMeta("Scan over one multi-motor trajectory relative to current position."));

function innerProduct(planName, num, args) {
  positiveInt(num, "num");
  const triples = chunks(asList(args, "args"), 3, planName, "motor, start, stop, ...");
  return { motors: triples.map((t) => t[0]), triples };
}

const innerProductMeta = (description) => ({
  module: PLANS,
  description,
  parameters: [
    detectorsP,
    intP("num", "number of steps"),
    argsP("patterned like ``motor1, start1, stop1, ..., motorN, startN, stopN``"),
    perStepP(),
    mdP,
  ],
});

export const inner_product_scan = plan(async function* inner_product_scan(
  detectors,
  num,
  args,
  { per_step = null, md = null } = {},
) {
  const t = innerProduct("inner_product_scan", num, args);
  const points = linspace(0, 1, num).map((f) => t.triples.map(([, a, b]) => a + (b - a) * f));
  yield* scanPoints("inner_product_scan", detectors, t.motors, points, {
    perStep: checkPerStep(per_step),
    md,
  });
}, innerProductMeta("inner-product (lock-step) scan of several motors over num points"));

export const relative_inner_product_scan = plan(async function* relative_inner_product_scan(
  detectors,
  num,
  args,
  { per_step = null, md = null } = {},
) {
  const t = innerProduct("relative_inner_product_scan", num, args);
  yield* relative(t.motors, async function* (start) {
    const points = linspace(0, 1, num).map((f) =>
      t.triples.map(([, a, b], k) => start[k] + a + (b - a) * f),
    );
    yield* scanPoints("relative_inner_product_scan", detectors, t.motors, points, {
      perStep: checkPerStep(per_step),
      md,
    });
  });
}, innerProductMeta("relative version of inner_product_scan"));

// ---- list scans ------------------------------------------------------------------------

const LIST_ARGS_DOC =
  "For one dimension, ``motor, [point1, point2, ....]``.\nIn general:\n\n.. code-block:: python\n\n" +
  "    motor1, [point1, point2, ...],\n    motor2, [point1, point2, ...],\n    ...,\n" +
  "    motorN, [point1, point2, ...]\n\nMotors can be any 'settable' object (motor, temp controller, etc.)";
const LIST_PER_STEP_DOC =
  "hook for customizing action of inner loop (messages per step)\nExpected signature:\n" +
  "``f(detectors, motor, step) -> plan (a generator)``";

function listPairs(planName, args, sameLength) {
  const pairs = chunks(asList(args, "args"), 2, planName, "motor, [positions], ...");
  for (const [, positions] of pairs) {
    if (!Array.isArray(positions) || positions.length === 0) {
      throw new ValueError(`${planName}: the positions of each motor must be a non-empty list`);
    }
  }
  if (sameLength && new Set(pairs.map(([, p]) => p.length)).size > 1) {
    throw new ValueError(`${planName}: the lists of positions must have the same length`);
  }
  return pairs;
}

const listScanMeta = (description, argsAnnotation) => ({
  module: PLANS,
  description,
  parameters: [
    detectorsP,
    { ...argsP(LIST_ARGS_DOC), annotation: argsAnnotation },
    perStepP(LIST_PER_STEP_DOC),
    mdP,
  ],
});

export const list_scan = plan(
  async function* list_scan(detectors, args, { per_step = null, md = null } = {}) {
    const pairs = listPairs("list_scan", args, true);
    const n = pairs[0][1].length;
    const points = Array.from({ length: n }, (_, i) => pairs.map(([, p]) => p[i]));
    yield* scanPoints(
      "list_scan",
      detectors,
      pairs.map(([m]) => m),
      points,
      {
        perStep: checkPerStep(per_step),
        md,
      },
    );
  },
  listScanMeta(
    "Scan over one or more variables in steps simultaneously (inner product).",
    "tuple[typing.Union[__MOVABLE__, typing.Any], list[typing.Any]]",
  ),
);

export const rel_list_scan = plan(
  async function* rel_list_scan(detectors, args, { per_step = null, md = null } = {}) {
    const pairs = listPairs("rel_list_scan", args, true);
    const motors = pairs.map(([m]) => m);
    yield* relative(motors, async function* (start) {
      const n = pairs[0][1].length;
      const points = Array.from({ length: n }, (_, i) => pairs.map(([, p], k) => start[k] + p[i]));
      yield* scanPoints("rel_list_scan", detectors, motors, points, {
        perStep: checkPerStep(per_step),
        md,
      });
    });
  },
  listScanMeta(
    "Scan over one variable in steps relative to current position.",
    "typing.Union[__MOVABLE__, typing.Any]",
  ),
);

// ---- grid scans ------------------------------------------------------------------------

const gridMeta = (description, argsDoc, snakeDefault) => ({
  module: PLANS,
  description,
  parameters: [detectorsP, argsP(argsDoc), snakeP(snakeDefault), perStepP(), mdP],
});
const GRID_ARGS_DOC =
  "patterned like (``motor1, start1, stop1, num1,``\n``motor2, start2, stop2, num2,``\n" +
  "``motor3, start3, stop3, num3,`` ``...``\n``motorN, startN, stopN, numN``)\n\n" +
  'The first motor is the "slowest", the outer loop. For all motors\nexcept the first motor, ' +
  'there is a "snake" argument: a boolean\nindicating whether to following snake-like, winding trajectory or a\n' +
  "simple left-to-right trajectory.";
const LIST_GRID_ARGS_DOC =
  "patterned like (``motor1, position_list1,``\n``motor2, position_list2,``\n" +
  "``motor3, position_list3,``\n``...,``\n``motorN, position_listN``)\n\n" +
  'The first motor is the "slowest", the outer loop. ``position_list``\'s\nare lists of positions, ' +
  "all lists must have the same length. Motors\ncan be any 'settable' object (motor, temp controller, etc.).";

function gridAxes(planName, args) {
  const quads = chunks(asList(args, "args"), 4, planName, "motor, start, stop, num, ...");
  return quads.map(([motor, a, b, n]) => ({
    motor,
    positions: linspace(a, b, positiveInt(n, "num")),
  }));
}

function listGridAxes(planName, args) {
  return listPairs(planName, args, false).map(([motor, positions]) => ({ motor, positions }));
}

async function* gridRun(planName, detectors, axes, snakeAxes, perStep, md, offsets) {
  const motors = axes.map((a) => a.motor);
  const snake = snakeFlags(motors, snakeAxes);
  const shifted = axes.map((a, k) => ({
    motor: a.motor,
    snake: snake[k],
    positions: a.positions.map((p) => p + (offsets ? offsets[k] : 0)),
  }));
  yield* scanPoints(planName, detectors, motors, gridPoints(shifted), {
    perStep: checkPerStep(perStep),
    md,
    extra: { shape: axes.map((a) => a.positions.length) },
  });
}

export const grid_scan = plan(
  async function* grid_scan(
    detectors,
    args,
    { snake_axes = null, per_step = null, md = null } = {},
  ) {
    yield* gridRun("grid_scan", detectors, gridAxes("grid_scan", args), snake_axes, per_step, md);
  },
  gridMeta("Scan over a mesh; each motor is on an independent trajectory.", GRID_ARGS_DOC, null),
);

export const rel_grid_scan = plan(
  async function* rel_grid_scan(
    detectors,
    args,
    { snake_axes = null, per_step = null, md = null } = {},
  ) {
    const axes = gridAxes("rel_grid_scan", args);
    yield* relative(
      axes.map((a) => a.motor),
      (start) => gridRun("rel_grid_scan", detectors, axes, snake_axes, per_step, md, start),
    );
  },
  gridMeta("Scan over a mesh relative to current position.", GRID_ARGS_DOC, null),
);

export const list_grid_scan = plan(
  async function* list_grid_scan(
    detectors,
    args,
    { snake_axes = false, per_step = null, md = null } = {},
  ) {
    yield* gridRun(
      "list_grid_scan",
      detectors,
      listGridAxes("list_grid_scan", args),
      snake_axes,
      per_step,
      md,
    );
  },
  gridMeta(
    "Scan over a mesh; each motor is on an independent trajectory.",
    LIST_GRID_ARGS_DOC,
    false,
  ),
);

export const rel_list_grid_scan = plan(
  async function* rel_list_grid_scan(
    detectors,
    args,
    { snake_axes = false, per_step = null, md = null } = {},
  ) {
    const axes = listGridAxes("rel_list_grid_scan", args);
    yield* relative(
      axes.map((a) => a.motor),
      (start) => gridRun("rel_list_grid_scan", detectors, axes, snake_axes, per_step, md, start),
    );
  },
  gridMeta(
    "Scan over a mesh; each motor is on an independent trajectory. Each point is\nrelative to the current position.",
    LIST_GRID_ARGS_DOC,
    false,
  ),
);

// ---- one-motor scans -------------------------------------------------------------------

const logMeta = (description) => ({
  module: PLANS,
  description,
  parameters: [
    detectorsP,
    motorP(),
    floatP("start", "starting position of motor"),
    floatP("stop", "ending position of motor"),
    intP("num", "number of steps"),
    perStepP(
      "hook for customizing action of inner loop (messages per step)\nExpected signature: ``f(detectors, motor, step)``",
    ),
    mdP,
  ],
});

export const log_scan = plan(async function* log_scan(
  detectors,
  motor,
  start,
  stop,
  num,
  { per_step = null, md = null } = {},
) {
  const points = linspace(start, stop, positiveInt(num, "num")).map((e) => [10 ** e]);
  yield* scanPoints("log_scan", detectors, [motor], points, {
    perStep: checkPerStep(per_step),
    md,
  });
}, logMeta("Scan over one variable in log-spaced steps."));

export const rel_log_scan = plan(async function* rel_log_scan(
  detectors,
  motor,
  start,
  stop,
  num,
  { per_step = null, md = null } = {},
) {
  const exps = linspace(start, stop, positiveInt(num, "num"));
  yield* relative([motor], async function* ([p0]) {
    const points = exps.map((e) => [p0 + 10 ** e]);
    yield* scanPoints("rel_log_scan", detectors, [motor], points, {
      perStep: checkPerStep(per_step),
      md,
    });
  });
}, logMeta("Scan over one variable in log-spaced steps relative to current position."));

export const x2x_scan = plan(
  async function* x2x_scan(
    detectors,
    motor1,
    motor2,
    start,
    stop,
    num,
    { per_step = null, md = null } = {},
  ) {
    const f = linspace(start, stop, positiveInt(num, "num"));
    yield* relative([motor1, motor2], async function* ([p1, p2]) {
      const points = f.map((x) => [p1 + x, p2 + 2 * x]);
      yield* scanPoints("x2x_scan", detectors, [motor1, motor2], points, {
        perStep: checkPerStep(per_step),
        md,
      });
    });
  },
  {
    module: PLANS,
    description: "Relatively scan over two motors in a 2:1 ratio",
    parameters: [
      detectorsP,
      { ...motorP("motor1"), description: "The second motor will move half as much as the first" },
      { ...motorP("motor2"), description: "The second motor will move half as much as the first" },
      floatP(
        "start",
        "The relative limits of the first motor.  The second motor\nwill move between ``start / 2`` and ``stop / 2``",
      ),
      floatP(
        "stop",
        "The relative limits of the first motor.  The second motor\nwill move between ``start / 2`` and ``stop / 2``",
      ),
      intP("num", "number of steps"),
      perStepP(),
      mdP,
    ],
  },
);

// ---- adaptive scans --------------------------------------------------------------------

async function* adaptive(
  planName,
  detectors,
  targetField,
  motor,
  start,
  stop,
  minStep,
  maxStep,
  targetDelta,
  backstep,
  threshold,
  md,
  offset = 0,
) {
  detectors = asList(detectors, "detectors");
  if (!(minStep > 0) || !(maxStep >= minStep)) {
    throw new ValueError("'min_step' must be positive and 'max_step' not smaller than 'min_step'");
  }
  const direction = stop >= start ? 1 : -1;
  yield openRun({
    plan_name: planName,
    detectors: names(detectors),
    motors: [nameOf(motor)],
    ...(md ?? {}),
  });
  let next = start;
  let step = (maxStep - minStep) / 2 || minStep;
  let past;
  let points = 0;
  while ((next - stop) * direction <= 0 && points < 10000) {
    points++;
    yield setMsg(motor, offset + next);
    const reading = yield triggerAndRead(unique([...detectors, motor]));
    const entry = reading?.[targetField];
    if (entry === undefined)
      throw new ValueError(`'${targetField}' is not a field of the readings`);
    const current = typeof entry === "object" ? entry.value : entry;
    if (past === undefined) {
      past = current;
      next += step * direction;
      continue;
    }
    const slope = Math.abs(current - past) / step;
    const newStep = slope
      ? Math.min(Math.max(targetDelta / slope, minStep), maxStep)
      : Math.min(step * 1.1, maxStep);
    if (backstep && newStep < step * threshold) {
      next -= step * direction;
    } else {
      past = current;
    }
    step = newStep;
    next += step * direction;
  }
  yield closeRun();
}

const adaptiveMeta = (description) => ({
  module: PLANS,
  description,
  parameters: [
    detectorsP,
    {
      name: "target_field",
      description: "data field whose output is the focus of the adaptive tuning",
      annotation: "str",
    },
    motorP(),
    floatP("start", "starting position of motor"),
    floatP("stop", "ending position of motor"),
    floatP("min_step", "smallest step for fast-changing regions"),
    floatP("max_step", "largest step for slow-changing regions"),
    floatP("target_delta", "desired fractional change in detector signal between steps"),
    {
      name: "backstep",
      description: "whether backward steps are allowed -- this is concern with some motors",
      annotation: "bool",
    },
    {
      name: "threshold",
      description: "threshold for going backward and rescanning a region, default is 0.8",
      annotation: "typing.Optional[float]",
      default: 0.8,
    },
    mdP,
  ],
});

export const adaptive_scan = plan(async function* adaptive_scan(
  detectors,
  target_field,
  motor,
  start,
  stop,
  min_step,
  max_step,
  target_delta,
  backstep,
  threshold = 0.8,
  { md = null } = {},
) {
  yield* adaptive(
    "adaptive_scan",
    detectors,
    target_field,
    motor,
    start,
    stop,
    min_step,
    max_step,
    target_delta,
    backstep,
    threshold,
    md,
  );
}, adaptiveMeta("Scan over one variable with adaptively tuned step size."));

export const rel_adaptive_scan = plan(async function* rel_adaptive_scan(
  detectors,
  target_field,
  motor,
  start,
  stop,
  min_step,
  max_step,
  target_delta,
  backstep,
  threshold = 0.8,
  { md = null } = {},
) {
  yield* relative([motor], (p) =>
    adaptive(
      "rel_adaptive_scan",
      detectors,
      target_field,
      motor,
      start,
      stop,
      min_step,
      max_step,
      target_delta,
      backstep,
      threshold,
      md,
      p[0],
    ),
  );
}, adaptiveMeta("Relative scan over one variable with adaptively tuned step size."));

// ---- spirals ---------------------------------------------------------------------------

function spiralPoints(xRange, yRange, dr, nth, drY, tilt) {
  const halfX = xRange / 2;
  const halfY = yRange / 2;
  const ratio = (drY ?? dr) / dr;
  const rings = 1 + Math.floor(Math.hypot(halfX, halfY / ratio) / dr);
  const pts = [[0, 0]];
  for (let ring = 1; ring <= rings; ring++) {
    const n = ring * nth;
    for (let k = 0; k < n; k++) {
      const a = (2 * Math.PI * k) / n;
      const x = ring * dr * Math.cos(a);
      const y = ring * dr * ratio * Math.sin(a);
      if (Math.abs(x) <= halfX && Math.abs(y) <= halfY) pts.push(rotate(x, y, tilt));
    }
  }
  return pts;
}

function fermatPoints(xRange, yRange, dr, factor, drY, tilt) {
  const phi = (137.508 * Math.PI) / 180;
  const halfX = xRange / 2;
  const halfY = yRange / 2;
  const ratio = (drY ?? dr) / dr;
  const rMax = Math.hypot(halfX, halfY / ratio);
  const pts = [];
  for (let i = 0; ; i++) {
    const r = (Math.sqrt(i) * dr) / factor;
    if (r > rMax || i > 100000) break;
    const x = r * Math.cos(i * phi);
    const y = r * ratio * Math.sin(i * phi);
    if (Math.abs(x) <= halfX && Math.abs(y) <= halfY) pts.push(rotate(x, y, tilt));
  }
  return pts;
}

function squarePoints(xRange, yRange, xNum, yNum) {
  positiveInt(xNum, "x_num");
  positiveInt(yNum, "y_num");
  const dx = xNum > 1 ? xRange / (xNum - 1) : 0;
  const dy = yNum > 1 ? yRange / (yNum - 1) : 0;
  const cx = (xNum - 1) / 2;
  const cy = (yNum - 1) / 2;
  const cells = [];
  for (let i = 0; i < xNum; i++) for (let j = 0; j < yNum; j++) cells.push([i, j]);
  // Square rings around the center, nearest first.
  cells.sort(
    (a, b) =>
      Math.max(Math.abs(a[0] - cx), Math.abs(a[1] - cy)) -
        Math.max(Math.abs(b[0] - cx), Math.abs(b[1] - cy)) ||
      Math.atan2(a[1] - cy, a[0] - cx) - Math.atan2(b[1] - cy, b[0] - cx),
  );
  return cells.map(([i, j]) => [(i - cx) * dx, (j - cy) * dy]);
}

function rotate(x, y, tilt) {
  if (!tilt) return [x, y];
  return [x * Math.cos(tilt) - y * Math.sin(tilt), x * Math.sin(tilt) + y * Math.cos(tilt)];
}

async function* spiralRun(planName, detectors, xMotor, yMotor, center, pts, perStep, md) {
  const points = pts.map(([x, y]) => [center[0] + x, center[1] + y]);
  yield* scanPoints(planName, detectors, [xMotor, yMotor], points, {
    perStep: checkPerStep(perStep),
    md,
  });
}

async function* relativeSpiral(planName, detectors, xMotor, yMotor, pts, perStep, md) {
  yield* relative([xMotor, yMotor], (start) =>
    spiralRun(planName, detectors, xMotor, yMotor, start, pts, perStep, md),
  );
}

const spiralParams = (absolute, last) => [
  detectorsP,
  motorP("x_motor"),
  motorP("y_motor"),
  ...(absolute ? [floatP(absolute[0], "x center"), floatP(absolute[1], "y center")] : []),
  floatP("x_range", "x width of spiral"),
  floatP("y_range", "y width of spiral"),
  ...last,
];
const drYP = {
  name: "dr_y",
  kind: "KEYWORD_ONLY",
  description: "Delta radius along the major axis of the ellipse. If None, it\ndefaults to dr.",
  annotation: "typing.Optional[float]",
  default: null,
};
const tiltP = {
  name: "tilt",
  kind: "KEYWORD_ONLY",
  description: "Tilt angle in radians, default 0.0",
  annotation: "float",
  default: 0.0,
};
const spiralTail = [
  floatP("dr", "Delta radius along the minor axis of the ellipse."),
  intP("nth", "Number of theta steps"),
  drYP,
  tiltP,
  perStepP(),
  mdP,
];
const fermatTail = [
  floatP("dr", "delta radius"),
  floatP("factor", "radius gets divided by this"),
  drYP,
  tiltP,
  perStepP(),
  mdP,
];
const squareTail = [
  intP("x_num", "number of x axis points"),
  intP("y_num", "Number of y axis points."),
  perStepP(),
  mdP,
];

export const spiral = plan(
  async function* spiral(
    detectors,
    x_motor,
    y_motor,
    x_start,
    y_start,
    x_range,
    y_range,
    dr,
    nth,
    { dr_y = null, tilt = 0.0, per_step = null, md = null } = {},
  ) {
    const pts = spiralPoints(x_range, y_range, dr, nth, dr_y, tilt);
    yield* spiralRun("spiral", detectors, x_motor, y_motor, [x_start, y_start], pts, per_step, md);
  },
  {
    module: PLANS,
    description: "Spiral scan, centered around (x_start, y_start)",
    parameters: spiralParams(["x_start", "y_start"], spiralTail),
  },
);

export const rel_spiral = plan(
  async function* rel_spiral(
    detectors,
    x_motor,
    y_motor,
    x_range,
    y_range,
    dr,
    nth,
    { dr_y = null, tilt = 0.0, per_step = null, md = null } = {},
  ) {
    const pts = spiralPoints(x_range, y_range, dr, nth, dr_y, tilt);
    yield* relativeSpiral("rel_spiral", detectors, x_motor, y_motor, pts, per_step, md);
  },
  {
    module: PLANS,
    description: "Relative spiral scan",
    parameters: spiralParams(null, spiralTail),
  },
);

export const spiral_fermat = plan(
  async function* spiral_fermat(
    detectors,
    x_motor,
    y_motor,
    x_start,
    y_start,
    x_range,
    y_range,
    dr,
    factor,
    { dr_y = null, tilt = 0.0, per_step = null, md = null } = {},
  ) {
    const pts = fermatPoints(x_range, y_range, dr, factor, dr_y, tilt);
    yield* spiralRun(
      "spiral_fermat",
      detectors,
      x_motor,
      y_motor,
      [x_start, y_start],
      pts,
      per_step,
      md,
    );
  },
  {
    module: PLANS,
    description: "Absolute fermat spiral scan, centered around (x_start, y_start)",
    parameters: spiralParams(["x_start", "y_start"], fermatTail),
  },
);

export const rel_spiral_fermat = plan(
  async function* rel_spiral_fermat(
    detectors,
    x_motor,
    y_motor,
    x_range,
    y_range,
    dr,
    factor,
    { dr_y = null, tilt = 0.0, per_step = null, md = null } = {},
  ) {
    const pts = fermatPoints(x_range, y_range, dr, factor, dr_y, tilt);
    yield* relativeSpiral("rel_spiral_fermat", detectors, x_motor, y_motor, pts, per_step, md);
  },
  {
    module: PLANS,
    description: "Relative fermat spiral scan",
    parameters: spiralParams(null, fermatTail),
  },
);

export const spiral_square = plan(
  async function* spiral_square(
    detectors,
    x_motor,
    y_motor,
    x_center,
    y_center,
    x_range,
    y_range,
    x_num,
    y_num,
    { per_step = null, md = null } = {},
  ) {
    const pts = squarePoints(x_range, y_range, x_num, y_num);
    yield* spiralRun(
      "spiral_square",
      detectors,
      x_motor,
      y_motor,
      [x_center, y_center],
      pts,
      per_step,
      md,
    );
  },
  {
    module: PLANS,
    description: "Absolute square spiral scan, centered around (x_center, y_center)",
    parameters: spiralParams(["x_center", "y_center"], squareTail),
  },
);

export const rel_spiral_square = plan(
  async function* rel_spiral_square(
    detectors,
    x_motor,
    y_motor,
    x_range,
    y_range,
    x_num,
    y_num,
    { per_step = null, md = null } = {},
  ) {
    const pts = squarePoints(x_range, y_range, x_num, y_num);
    yield* relativeSpiral("rel_spiral_square", detectors, x_motor, y_motor, pts, per_step, md);
  },
  {
    module: PLANS,
    description: "Relative square spiral scan, centered around current (x, y) position.",
    parameters: spiralParams(null, squareTail),
  },
);

// ---- tuning and flying -----------------------------------------------------------------

export const tune_centroid = plan(
  async function* tune_centroid(
    detectors,
    signal,
    motor,
    start,
    stop,
    min_step,
    num = 10,
    step_factor = 3.0,
    snake = false,
    { md = null } = {},
  ) {
    detectors = asList(detectors, "detectors");
    positiveInt(num, "num");
    if (!(min_step > 0) || !(step_factor > 1))
      throw new ValueError("'min_step' must be > 0 and 'step_factor' > 1");
    yield openRun({
      plan_name: "tune_centroid",
      detectors: names(detectors),
      motors: [nameOf(motor)],
      ...(md ?? {}),
    });
    let [lo, hi] = [start, stop];
    let reverse = false;
    for (let pass = 0; pass < 50; pass++) {
      let positions = linspace(lo, hi, num);
      if (reverse) positions = positions.reverse();
      let sum = 0;
      let weighted = 0;
      for (const p of positions) {
        yield setMsg(motor, p);
        const reading = yield triggerAndRead(unique([...detectors, motor]));
        const entry = reading?.[signal];
        if (entry === undefined) throw new ValueError(`'${signal}' is not a field of the readings`);
        const v = typeof entry === "object" ? entry.value : entry;
        sum += v;
        weighted += v * p;
      }
      const width = Math.abs(hi - lo);
      if (width / (num - 1 || 1) <= min_step || sum === 0) break;
      const centroid = weighted / sum;
      const half = width / step_factor / 2;
      [lo, hi] = [centroid - half, centroid + half];
      if (snake) reverse = !reverse;
    }
    yield closeRun();
  },
  {
    module: PLANS,
    description: "plan: tune a motor to the centroid of signal(motor)",
    parameters: [
      detectorsP,
      {
        name: "signal",
        description: "detector field whose output is to maximize",
        annotation: "str",
      },
      { ...motorP(), description: "any 'settable' object (motor, temp controller, etc.)" },
      floatP("start", "start of range"),
      floatP("stop", "end of range, note: start < stop"),
      floatP("min_step", "smallest step size to use."),
      intP("num", "number of points with each traversal, default = 10", { default: 10 }),
      floatP(
        "step_factor",
        "used in calculating new range after each pass\n\nnote: step_factor > 1.0, default = 3",
        { default: 3.0 },
      ),
      {
        name: "snake",
        description: "if False (default), always scan from start to stop",
        annotation: "bool",
        default: false,
      },
      mdP,
    ],
  },
);

export const fly = plan(
  async function* fly(flyers, { md = null } = {}) {
    flyers = asList(flyers, "flyers");
    for (const f of flyers) {
      if (typeof f?.kickoff !== "function") throw new TypeError(`${nameOf(f)} is not a flyer`);
    }
    yield openRun({ plan_name: "fly", flyers: names(flyers), ...(md ?? {}) });
    for (const f of flyers) {
      await f.kickoff();
      yield checkpoint();
    }
    for (const f of flyers) await f.complete();
    for (const f of flyers) {
      const events = await f.collect();
      console.log(`Collected ${events.length} event(s) from '${nameOf(f)}'`);
      yield checkpoint();
    }
    yield closeRun();
  },
  {
    module: PLANS,
    description: "Perform a fly scan with one or more 'flyers'.",
    parameters: [
      {
        name: "flyers",
        description: "objects that support the flyer interface",
        annotation: "list[__FLYABLE__]",
        convertDeviceNames: true,
      },
      mdP,
    ],
  },
);

// ---- plan stubs ------------------------------------------------------------------------

const mvMeta = (description) => ({
  module: STUBS,
  description,
  parameters: [
    {
      ...argsP("device1, value1, device2, value2, ..."),
      annotation: "typing.Union[__MOVABLE__, typing.Any]",
    },
    {
      name: "group",
      kind: "KEYWORD_ONLY",
      description: "Used to mark these as a unit to be waited on.",
      annotation: "typing.Optional[typing.Hashable]",
      default: null,
    },
    {
      name: "timeout",
      kind: "KEYWORD_ONLY",
      description: "Specify a maximum time that the move(s) can be waited for.",
      annotation: "typing.Optional[float]",
      default: null,
    },
    { name: "kwargs", kind: "VAR_KEYWORD", description: "passed to obj.set()" },
  ],
});

function movePairs(planName, args) {
  const pairs = chunks(asList(args, "args"), 2, planName, "device1, value1, device2, value2, ...");
  for (const [d] of pairs) {
    if (typeof d === "string")
      throw new TypeError(`'${d}' is not a device: no device of that name exists`);
  }
  return pairs;
}

export const mv = plan(async function* mv(args, { group = null, timeout = null, ...kwargs } = {}) {
  for (const [d, v] of movePairs("mv", args)) yield setMsg(d, v);
}, mvMeta("Move one or more devices to a setpoint. Wait for all to complete."));

export const mvr = plan(async function* mvr(
  args,
  { group = null, timeout = null, ...kwargs } = {},
) {
  for (const [d, delta] of movePairs("mvr", args)) {
    const p = yield* positionOf(d);
    yield setMsg(d, p + delta);
  }
}, mvMeta("Move one or more devices to a relative setpoint. Wait for all to complete."));

async function* nullPlan() {
  yield;
}

const null_ = plan(nullPlan, {
  module: STUBS,
  description: "Yield a no-op Message. (Primarily for debugging and testing.)",
  parameters: [],
});
export { null_ as null };
