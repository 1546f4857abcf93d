// Loads uPlot (bundled, a separate chunk) once for every chart.
//
// uPlot formats numbers with `new Intl.NumberFormat(navigator.language)` when its module is
// evaluated. WebKitGTK takes navigator.language from the POSIX locale, so under LANG=C or
// C.UTF-8 (a minimal system, a service, the real-app lab under Xvfb) it is "C", which is no
// BCP 47 tag: the constructor throws a RangeError, the module fails to evaluate and no chart
// is ever drawn (WebKit even resolves later imports of the broken module, whose functions are
// then undefined). So the language is made a valid tag first.
import type uPlotT from "uplot";

/** `tag` as a locale Intl accepts ("en_US.UTF-8" -> "en-US"), or null ("C", "", garbage). */
export function validLocale(tag: string | null | undefined): string | null {
  if (!tag) return null;
  for (const t of [tag, tag.split(/[.@]/)[0].replace(/_/g, "-")]) {
    try {
      const [c] = Intl.getCanonicalLocales(t);
      if (c) {
        new Intl.NumberFormat(c);
        return c;
      }
    } catch {
      /* not a tag: try the next form */
    }
  }
  return null;
}

/**
 * Makes `nav.language` a locale Intl accepts when it is not one: its POSIX form converted, else
 * the first valid of `nav.languages`, else the JavaScript engine's default locale. Returns the
 * language it set, or null when nothing needed (or could be) changed.
 */
export function fixNavigatorLanguage(nav: Navigator | undefined = globalThis.navigator): string | null {
  if (!nav || typeof nav.language !== "string") return null;
  try {
    new Intl.NumberFormat(nav.language);
    return null; // valid already
  } catch {
    /* fall through */
  }
  const fallback =
    validLocale(nav.language) ??
    (nav.languages ?? []).map(validLocale).find((l) => l !== null) ??
    validLocale(new Intl.NumberFormat().resolvedOptions().locale) ??
    "en-US";
  try {
    Object.defineProperty(nav, "language", { value: fallback, configurable: true, enumerable: true });
    return nav.language === fallback ? fallback : null;
  } catch {
    return null;
  }
}

let loading: Promise<typeof uPlotT> | null = null;

/** uPlot's constructor, loaded once (a failure stays a failure: the module is not re-evaluated). */
export function loadUPlot(): Promise<typeof uPlotT> {
  loading ??= Promise.resolve().then(() => {
    fixNavigatorLanguage();
    return import("uplot").then((m) => m.default);
  });
  return loading;
}
