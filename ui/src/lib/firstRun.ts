// When to show the first-run screen: the display name is still the engine's default and this
// device has not been through the screen before. The flag is kept in localStorage per device
// key, so a new identity (a fresh data directory) is a new first run.

import type { Status } from "./types";

export const DEFAULT_DISPLAY_NAME = "Player";
export const FIRST_RUN_PREFIX = "lanrage.firstRunDone:";

type StorageLike = Pick<Storage, "getItem" | "setItem">;

function storage(): StorageLike | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null; // storage disabled
  }
}

export function firstRunKey(publicKey: string): string {
  return FIRST_RUN_PREFIX + publicKey;
}

export function isFirstRunDone(publicKey: string, s: StorageLike | null = storage()): boolean {
  try {
    return s?.getItem(firstRunKey(publicKey)) === "1";
  } catch {
    return false;
  }
}

export function markFirstRunDone(publicKey: string, s: StorageLike | null = storage()): void {
  try {
    s?.setItem(firstRunKey(publicKey), "1");
  } catch {
    /* storage full or disabled: the screen may show again next time, nothing worse */
  }
}

export function needsFirstRun(status: Status | null, done: boolean): boolean {
  return !!status && status.device.display_name === DEFAULT_DISPLAY_NAME && !done;
}
