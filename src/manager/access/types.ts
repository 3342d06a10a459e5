/** What other areas may know of access control: the checks they call, as interfaces. */

/** What a user group may use, from the lists the worker found and the permissions. */
export interface AllowedLists {
  plans: Record<string, unknown>;
  devices: Record<string, unknown>;
  /** Device names (dotted for sub-devices) the group may name in a plan. */
  deviceNames: Set<string>;
  /** Device names that exist at all (those root allows). */
  existingDeviceNames: Set<string>;
}

/** The user groups the permissions know. */
export interface GroupCheck {
  hasGroup(group: string): boolean;
}

/** Who may call which function (the requester checks of a task). */
export interface FunctionAccess extends GroupCheck {
  functionAllowed(group: string, name: string): boolean;
}

/** The plans and devices a group may use (the requester checks of a plan). */
export interface ListAccess extends GroupCheck {
  allowedLists(group: string): AllowedLists;
  /** Resolves once the lists are known; refuses (RequestError) when they are not in time. */
  requireLists(): Promise<void>;
}
