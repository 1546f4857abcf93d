// Copy text in a plain browser: the async Clipboard API, or a hidden textarea and
// execCommand where that API is missing or refused (older WebKitGTK, no permission).

export async function browserCopy(text: string): Promise<void> {
  if (typeof navigator !== "undefined" && navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      /* fall back below */
    }
  }
  if (typeof document === "undefined") throw new Error("no clipboard here");
  const ta = document.createElement("textarea");
  ta.value = text;
  ta.setAttribute("readonly", "");
  ta.style.position = "fixed";
  ta.style.opacity = "0";
  const active = document.activeElement as HTMLElement | null;
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand?.("copy") ?? false;
  } catch {
    ok = false;
  }
  ta.remove();
  active?.focus?.();
  if (!ok) throw new Error("copy failed");
}
