import { onDestroy, untrack } from "svelte";
import { sessionsFeed } from "./sessions";

/**
 * Keeps a page's game sessions current: `load` runs when the page is shown and again shortly
 * after the engine says something changed (`seq` moves); nothing runs while it is hidden, and
 * everything stops with the component (`cancel` drops a load in flight). Call it while the
 * component initialises.
 */
export function followSessions(load: () => void, visible: () => boolean, seq: () => number, cancel: () => void): void {
  const feed = sessionsFeed(load);
  $effect(() => {
    const shown = visible();
    untrack(() => feed.show(shown));
  });
  let lastSeq: number | null = null;
  $effect(() => {
    const s = seq();
    if (lastSeq !== null && s !== lastSeq) feed.changed();
    lastSeq = s;
  });
  onDestroy(() => {
    feed.dispose();
    cancel();
  });
}
