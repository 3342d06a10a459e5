// @ts-check
// What a panel of the page is: a module whose `init` wires its part of the
// page and returns what it wants to hear of the live events.

/**
 * @typedef {Record<string, any>} Status  The manager's status (QS_Info), as published.
 * @typedef {Record<string, any>} TaskEvent  One QS_Task event.
 * @typedef {object} Panel
 * @property {(s: Status, prev: Status | null) => void} [onStatus]  A status was published.
 * @property {(ev: TaskEvent) => void} [onTask]  A task event arrived.
 * @property {() => void} [onConnect]  The event stream (re)connected: load everything again.
 */

export {};
