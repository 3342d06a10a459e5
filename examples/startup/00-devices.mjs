// Simulated hardware, mirroring the devices of the Python server's simulated
// profile (ophyd.sim): motors that move at once, detectors whose reading is a
// Gaussian of a motor's position, signals, flyers and nested devices.
//
// Every exported object marked with `device()` is a device of the environment.
// Class names and modules are those the Python server reports, so that clients
// see the same `devices_existing` descriptions.
import { device } from "zqs/worker";

const now = () => Date.now() / 1000;

/** A soft signal: `get`, `put`, `set` (resolves at once) and `read`. */
class Signal {
  constructor(name, value = 0, { classname = "Signal", module = "ophyd.signal", compute } = {}) {
    this.name = name;
    this._value = value;
    this._timestamp = now();
    this._compute = compute;
    device(this, { classname, module, isReadable: true, isMovable: true, isFlyable: false });
  }
  get() {
    if (this._compute) this.put(this._compute());
    return this._value;
  }
  put(value) {
    this._value = value;
    this._timestamp = now();
  }
  async set(value) {
    this.put(value);
    return value;
  }
  async trigger() {
    if (this._compute) this.put(this._compute());
  }
  read() {
    return { [this.name]: { value: this.get(), timestamp: this._timestamp } };
  }
  describe() {
    const v = this.get();
    return {
      [this.name]: {
        source: "SIM:" + this.name,
        dtype: Array.isArray(v) ? "array" : typeof v === "number" ? "number" : typeof v,
        shape: Array.isArray(v) ? [v.length] : [],
      },
    };
  }
}

const synSignal = (name, value, compute) =>
  new Signal(name, value, { classname: "SynSignal", module: "ophyd.sim", compute });

function readAll(signals) {
  return Object.assign({}, ...signals.map((s) => s.read()));
}

/** A simulated motor (ophyd.sim.SynAxis): `set()` completes at once. */
class SynAxis {
  constructor(name, { classname = "SynAxis", jitter = false, hasPosition = true } = {}) {
    this.name = name;
    this._jitter = jitter;
    this.readback = new Signal(name, 0, { classname: "_ReadbackSignal", module: "ophyd.sim" });
    this.setpoint = new Signal(`${name}_setpoint`, 0, {
      classname: "_SetpointSignal",
      module: "ophyd.sim",
    });
    this.velocity = new Signal(`${name}_velocity`, 1);
    this.acceleration = new Signal(`${name}_acceleration`, 1);
    this.unused = new Signal(`${name}_unused`, 1);
    if (hasPosition) {
      Object.defineProperty(this, "position", {
        get: () => this.readback.get(),
        enumerable: false,
      });
    }
    const { readback, setpoint, velocity, acceleration, unused } = this;
    this._cpts = { readback, setpoint, velocity, acceleration, unused };
    device(this, {
      classname,
      module: "ophyd.sim",
      isReadable: true,
      isMovable: true,
      isFlyable: false,
      components: this._cpts,
    });
  }
  async set(value) {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new TypeError(
        `${this.name}: the position must be a number, got ${JSON.stringify(value)}`,
      );
    }
    this.setpoint.put(value);
    this.readback.put(this._jitter ? value + Math.random() : value);
    return this.readback.get();
  }
  read() {
    return readAll([this.readback, this.setpoint]);
  }
  describe() {
    return { ...this.readback.describe(), ...this.setpoint.describe() };
  }
}

/** A detector whose reading is a Gaussian of a motor's position (ophyd.sim.SynGauss). */
class SynGauss {
  constructor(
    name,
    motor,
    { center = 0, Imax = 1, sigma = 1, noise = "none", noiseMultiplier = 1 } = {},
  ) {
    this.name = name;
    this._motor = motor;
    this.val = synSignal(name, 0);
    this.Imax = new Signal(`${name}_Imax`, Imax);
    this.center = new Signal(`${name}_center`, center);
    this.sigma = new Signal(`${name}_sigma`, sigma);
    this.noise = new Signal(`${name}_noise`, noise, {
      classname: "EnumSignal",
      module: "ophyd.sim",
    });
    this.noise_multiplier = new Signal(`${name}_noise_multiplier`, noiseMultiplier);
    const { val, Imax: imax, center: c, sigma: s, noise: n, noise_multiplier } = this;
    this._cpts = { val, Imax: imax, center: c, sigma: s, noise: n, noise_multiplier };
    device(this, {
      classname: "SynGauss",
      module: "ophyd.sim",
      isReadable: true,
      isMovable: false,
      isFlyable: false,
      components: this._cpts,
    });
  }
  compute() {
    const m = this._motor.readback.get();
    const s = this.sigma.get();
    let v = this.Imax.get() * Math.exp(-((m - this.center.get()) ** 2) / (2 * s * s));
    if (this.noise.get() === "uniform") v += this.noise_multiplier.get() * (Math.random() * 2 - 1);
    return v;
  }
  async trigger() {
    this.val.put(this.compute());
  }
  read() {
    this.val.put(this.compute());
    return this.val.read();
  }
  describe() {
    return this.val.describe();
  }
}

/** A detector: a 2-D Gaussian of two motors' positions (ophyd.sim.Syn2DGauss). */
class Syn2DGauss {
  constructor(name, motor0, motor1, { center = [0, 0], Imax = 1, sigma = 1 } = {}) {
    this.name = name;
    this._motors = [motor0, motor1];
    this.val = synSignal(name, 0);
    this.Imax = new Signal(`${name}_Imax`, Imax);
    this.center = new Signal(`${name}_center`, center);
    this.sigma = new Signal(`${name}_sigma`, sigma);
    this.noise = new Signal(`${name}_noise`, "none", {
      classname: "EnumSignal",
      module: "ophyd.sim",
    });
    this.noise_multiplier = new Signal(`${name}_noise_multiplier`, 1);
    const { val, Imax: imax, center: c, sigma: s, noise, noise_multiplier } = this;
    this._cpts = { val, Imax: imax, center: c, sigma: s, noise, noise_multiplier };
    device(this, {
      classname: "Syn2DGauss",
      module: "ophyd.sim",
      isReadable: true,
      isMovable: false,
      isFlyable: false,
      components: this._cpts,
    });
  }
  compute() {
    const [x, y] = this._motors.map((m) => m.readback.get());
    const [cx, cy] = this.center.get();
    const s = this.sigma.get();
    return this.Imax.get() * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s));
  }
  async trigger() {
    this.val.put(this.compute());
  }
  read() {
    this.val.put(this.compute());
    return this.val.read();
  }
}

/** A device made of signals (ABDetector, DetWithConf, ...): reads the `read` ones. */
class SignalDevice {
  constructor(
    name,
    classname,
    signals,
    { readNames = Object.keys(signals), module = "ophyd.sim" } = {},
  ) {
    this.name = name;
    Object.assign(this, signals);
    this._cpts = signals;
    this._read = readNames.map((k) => signals[k]);
    device(this, {
      classname,
      module,
      isReadable: true,
      isMovable: false,
      isFlyable: false,
      ...(Object.keys(signals).length ? { components: signals } : {}),
    });
  }
  async trigger() {
    await Promise.all(this._read.map((s) => s.trigger()));
  }
  read() {
    return readAll(this._read);
  }
  read_configuration() {
    return readAll(Object.values(this._cpts).filter((s) => !this._read.includes(s)));
  }
}

/** A flyer (ophyd.sim.MockFlyer and friends): kickoff, complete, collect. */
class Flyer {
  constructor(name, classname, { motor, detector, start = 1, stop = 5, num = 0 } = {}) {
    this.name = name;
    this._cfg = { motor, detector, start, stop, num };
    this._data = [];
    device(this, {
      classname,
      module: "ophyd.sim",
      isReadable: false,
      isMovable: false,
      isFlyable: true,
    });
  }
  async kickoff() {
    this._data = [];
    const { motor, detector, start, stop, num } = this._cfg;
    for (let i = 0; i < num; i++) {
      const pos = num === 1 ? start : start + ((stop - start) * i) / (num - 1);
      await motor.set(pos);
      this._data.push({ time: now(), data: { ...motor.read(), ...detector.read() } });
    }
  }
  async complete() {}
  collect() {
    return this._data;
  }
  describe_collect() {
    return {};
  }
}

/** A soft positioner (ophyd.positioner.SoftPositioner). */
class SoftPositioner {
  constructor(name, classname = "SoftPositioner", module = "ophyd.positioner", components) {
    this.name = name;
    this.position = 0;
    device(this, {
      classname,
      module,
      isReadable: true,
      isMovable: true,
      isFlyable: false,
      ...(components ? { components } : {}),
    });
  }
  async set(value) {
    this.position = value;
    return value;
  }
  read() {
    return { [this.name]: { value: this.position, timestamp: now() } };
  }
}

/** Pseudo positioner: pseudo axes over real axes, real_i = -pseudo_i (ophyd.sim SPseudo*). */
class PseudoPositioner {
  constructor(name, classname, nPseudo, withSig = false) {
    this.name = name;
    const cpts = {};
    this._pseudo = [];
    for (let i = 1; i <= nPseudo; i++) {
      const readback = new Signal(`${name}_pseudo${i}`, 0, { classname: "AttributeSignal" });
      const setpoint = new Signal(`${name}_pseudo${i}_setpoint`, 0, {
        classname: "AttributeSignal",
      });
      const p = new SoftPositioner(`${name}_pseudo${i}`, "PseudoSingle", "ophyd.pseudopos", {
        readback,
        setpoint,
      });
      this._pseudo.push(p);
      cpts[`pseudo${i}`] = p;
    }
    this._real = [1, 2, 3].map((i) => new SoftPositioner(`${name}_real${i}`));
    this._real.forEach((r, i) => (cpts[`real${i + 1}`] = r));
    if (withSig) cpts.sig = new Signal(`${name}_sig`, 0);
    Object.assign(this, cpts);
    this._cpts = cpts;
    device(this, {
      classname,
      module: "ophyd.sim",
      isReadable: true,
      isMovable: true,
      isFlyable: false,
      components: cpts,
    });
  }
  get position() {
    return this._pseudo.length === 1
      ? this._pseudo[0].position
      : this._pseudo.map((p) => p.position);
  }
  async set(value) {
    const values = Array.isArray(value) ? value : [value];
    if (values.length !== this._pseudo.length || values.some((v) => typeof v !== "number")) {
      throw new TypeError(
        `${this.name}: expected ${this._pseudo.length} number(s), got ${JSON.stringify(value)}`,
      );
    }
    values.forEach((v, i) => this._pseudo[i].set(v));
    this._real.forEach((r, i) => r.set(-(values.length === 1 ? values[0] : values[i])));
    return this.position;
  }
  read() {
    return readAll([...this._pseudo, ...this._real]);
  }
}

/** A device holding other devices (the profile's SimStage / SimDetectors / SimBundle). */
class Bundle {
  constructor(name, classname, parts, { isMovable = false } = {}) {
    this.name = name;
    Object.assign(this, parts);
    this._cpts = parts;
    device(this, {
      classname,
      module: "__main__",
      isReadable: true,
      isMovable,
      isFlyable: false,
      components: parts,
    });
  }
  async trigger() {
    for (const p of Object.values(this._cpts)) await p.trigger?.();
  }
  read() {
    return readAll(Object.values(this._cpts));
  }
}

const image = () =>
  Array.from({ length: 10 }, () => Array.from({ length: 10 }, () => Math.random()));

// ---- motors --------------------------------------------------------------------------

export const motor = new SynAxis("motor");
export const motor1 = new SynAxis("motor1");
export const motor2 = new SynAxis("motor2");
export const motor3 = new SynAxis("motor3");
export const jittery_motor1 = new SynAxis("jittery_motor1", { jitter: true });
export const jittery_motor2 = new SynAxis("jittery_motor2", { jitter: true });
export const motor_empty_hints1 = new SynAxis("motor_empty_hints1", {
  classname: "SynAxisEmptyHints",
});
export const motor_empty_hints2 = new SynAxis("motor_empty_hints2", {
  classname: "SynAxisEmptyHints",
});
export const motor_no_hints1 = new SynAxis("motor_no_hints1", { classname: "SynAxisNoHints" });
export const motor_no_hints2 = new SynAxis("motor_no_hints2", { classname: "SynAxisNoHints" });
export const motor_no_pos = new SynAxis("motor_no_pos", {
  classname: "SynAxisNoPosition",
  hasPosition: false,
});

// ---- detectors -----------------------------------------------------------------------

export const det = new SynGauss("det", motor, { center: 0, Imax: 1, sigma: 1 });
export const identical_det = new SynGauss("det", motor, { center: 0, Imax: 1, sigma: 1 });
export const noisy_det = new SynGauss("noisy_det", motor, {
  center: 0,
  Imax: 1,
  sigma: 1,
  noise: "uniform",
  noiseMultiplier: 0.1,
});
export const det1 = new SynGauss("det1", motor1, { center: 0, Imax: 5, sigma: 0.5 });
export const det2 = new SynGauss("det2", motor2, { center: 1, Imax: 2, sigma: 2 });
export const det3 = new SynGauss("det3", motor3, { center: -1, Imax: 2, sigma: 1 });
export const det4 = new Syn2DGauss("det4", motor1, motor2);
export const det5 = new Syn2DGauss("det5", jittery_motor1, jittery_motor2);

export const ab_det = new SignalDevice("ab_det", "ABDetector", {
  a: synSignal("ab_det_a", 0, () => Math.random()),
  b: synSignal("ab_det_b", 0, () => Math.random()),
});
export const det_with_conf = new SignalDevice(
  "det_with_conf",
  "DetWithConf",
  {
    a: synSignal("det_with_conf_a", 1),
    b: synSignal("det_with_conf_b", 2),
    c: synSignal("det_with_conf_c", 3),
    d: synSignal("det_with_conf_d", 4),
  },
  { readNames: ["a", "b"] },
);
export const det_with_count_time = new SignalDevice(
  "det_with_count_time",
  "DetWithCountTime",
  {
    intensity: synSignal("det_with_count_time_intensity", 0, () => Math.random()),
    count_time: new Signal("det_with_count_time_count_time", 1),
  },
  { readNames: ["intensity"] },
);
export const direct_img = new SignalDevice("direct_img", "DirectImage", {
  img: synSignal("direct_img_img", image(), image),
});
export const direct_img_list = new SignalDevice("direct_img_list", "DirectImage", {
  img: synSignal("direct_img_list_img", image(), image),
});

// ---- signals ---------------------------------------------------------------------------

export const sig = new Signal("sig", 0);
export const bool_sig = new Signal("bool_sig", false);
export const signal = synSignal("signal", 0, () => 1);
export const img = new Signal("img", image(), {
  classname: "SynSignalWithRegistry",
  module: "ophyd.sim",
  compute: image,
});
export const invariant1 = new Signal("invariant1", 0, {
  classname: "InvariantSignal",
  module: "ophyd.sim",
  compute: () => 0,
});
export const invariant2 = new Signal("invariant2", 0, {
  classname: "InvariantSignal",
  module: "ophyd.sim",
  compute: () => 0,
});
export const rand = new Signal("rand", 0, {
  classname: "SynPeriodicSignal",
  module: "ophyd.sim",
  compute: () => Math.random(),
});
export const rand2 = new Signal("rand2", 0, {
  classname: "SynPeriodicSignal",
  module: "ophyd.sim",
  compute: () => Math.random(),
});

// ---- flyers and pseudo positioners -------------------------------------------------

export const flyer1 = new Flyer("flyer1", "MockFlyer", { motor, detector: det, num: 20 });
export const flyer2 = new Flyer("flyer2", "MockFlyer", { motor, detector: det, num: 10 });
export const trivial_flyer = new Flyer("trivial_flyer", "TrivialFlyer");
export const new_trivial_flyer = new Flyer("new_trivial_flyer", "NewTrivialFlyer");
export const pseudo1x3 = new PseudoPositioner("pseudo1x3", "SPseudo1x3", 1);
export const pseudo3x3 = new PseudoPositioner("pseudo3x3", "SPseudo3x3", 3, true);

// ---- nested devices (the profile's 99-custom.py) -----------------------------------

function simBundle(name) {
  const mtrs = new Bundle(
    `${name}_mtrs`,
    "SimStage",
    {
      x: new SynAxis(`${name}_mtrs_x`),
      y: new SynAxis(`${name}_mtrs_y`),
      z: new SynAxis(`${name}_mtrs_z`),
    },
    { isMovable: true },
  );
  const dets = new Bundle(`${name}_dets`, "SimDetectors", {
    det_A: new SynGauss(`${name}_dets_det_A`, motor1, { center: 0, Imax: 5, sigma: 0.5 }),
    det_B: new SynGauss(`${name}_dets_det_B`, motor2, { center: 1, Imax: 2, sigma: 2 }),
  });
  return new Bundle(name, "SimBundle", { mtrs, dets });
}

export const sim_bundle_A = simBundle("sim_bundle_A");
export const sim_bundle_B = simBundle("sim_bundle_B");

export const custom_test_device = new SignalDevice(
  "custom_test_device",
  "Device",
  {},
  {
    module: "ophyd.device",
  },
);
export const custom_test_signal = new Signal("custom_test_signal", 0);
export const custom_test_flyer = new Flyer("custom_test_flyer", "MockFlyer", {
  motor,
  detector: det,
  num: 20,
});
