// The app's pages and the URL hash that names them (#/party, #/network, …), so a reload or a
// screenshot script lands on the same page.

export const PAGES = [
  { id: "party", label: "Party" },
  { id: "network", label: "Network" },
  { id: "metrics", label: "Metrics" },
  { id: "games", label: "Games" },
  { id: "servers", label: "Servers" },
  { id: "settings", label: "Settings" },
] as const;

export type PageId = (typeof PAGES)[number]["id"];

export function pageFromHash(hash: string | null | undefined): PageId {
  const h = (hash ?? "").replace(/^#\/?/, "").toLowerCase();
  return (PAGES.find((p) => p.id === h)?.id ?? "party") as PageId;
}

/** The page after `from` in a direction, wrapping around (arrow keys in the nav). */
export function stepPage(from: PageId, delta: number): PageId {
  const i = PAGES.findIndex((p) => p.id === from);
  const n = PAGES.length;
  return PAGES[(((i + delta) % n) + n) % n].id;
}
