// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { fixNavigatorLanguage, loadUPlot, validLocale } from "./chartLib";

const nav = (language: string, languages: string[] = [language]) => ({ language, languages }) as unknown as Navigator;

describe("chart library", () => {
  it("turns POSIX locale names into tags and refuses what is none", () => {
    expect(validLocale("de-DE")).toBe("de-DE");
    expect(validLocale("en_US.UTF-8")).toBe("en-US");
    expect(validLocale("sr_RS@latin")).toBe("sr-RS");
    expect(validLocale("C")).toBeNull();
    expect(validLocale("C.UTF-8")).toBeNull();
    expect(validLocale("")).toBeNull();
    expect(validLocale(undefined)).toBeNull();
  });

  it("makes a webview language of C (WebKitGTK under LANG=C) a locale Intl accepts", () => {
    expect(() => new Intl.NumberFormat("C")).toThrow(RangeError);
    const c = nav("C");
    const set = fixNavigatorLanguage(c);
    expect(set).not.toBeNull();
    expect(c.language).toBe(set);
    expect(() => new Intl.NumberFormat(c.language)).not.toThrow();
    const posix = nav("C", ["C", "fr_FR.UTF-8"]);
    expect(fixNavigatorLanguage(posix)).toBe("fr-FR");
    const fine = nav("de-DE");
    expect(fixNavigatorLanguage(fine)).toBeNull();
    expect(fine.language).toBe("de-DE");
  });

  it("loads uPlot once even when the webview's language is C", async () => {
    Object.defineProperty(navigator, "language", { value: "C", configurable: true });
    const a = loadUPlot();
    expect(loadUPlot()).toBe(a);
    expect(typeof (await a)).toBe("function");
    expect(() => new Intl.NumberFormat(navigator.language)).not.toThrow();
  });
});
