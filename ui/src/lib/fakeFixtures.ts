// What the real engine answers for known inputs, for the fake engine (fakeParty.ts) to answer
// with: tables, not algorithms. The invite parser and the grading formula live in Rust only;
// crates/proto and crates/metrics test every entry of these tables against them, so a fixture
// that no longer matches the engine fails `cargo test`.

import invites from "./fixtures/invites.json";
import grades from "./fixtures/grades.json";
import type { JoinInput, Quality } from "./types";

/** Where the fake's parties meet (the control server in their invite links). */
export const FAKE_MEET_AT: string = invites.meet_at;

/** Valid invite codes (display form) with their links to FAKE_MEET_AT; the fake hands them out in turn. */
export const FAKE_CODES: readonly { code: string; link: string }[] = invites.codes;

/** One known join-field input and the engine's answers for it. */
export type FakeJoinEntry = {
  /** trimmed, as the engine reads it */
  text: string;
  /** the has_server values this answer is for (absent: any) */
  has_server?: (boolean | null)[];
  /** classify_invite's answer */
  expect: JoinInput;
  /** the parser's message: what join_party fails with (absent: the input parses) */
  error?: string;
};

export const FAKE_JOIN_INPUTS: readonly FakeJoinEntry[] = invites.inputs as FakeJoinEntry[];

/** What the fake says about an input it has no entry for. */
export const FAKE_UNKNOWN_INVITE = "the fake engine knows only the invites in ui/src/lib/fixtures/invites.json";

/** The entry for `text` (and `hasServer`, when given), or null when the table has none. */
export function fakeJoinEntry(text: string, hasServer?: boolean | null): FakeJoinEntry | null {
  const t = text.trim();
  return (
    FAKE_JOIN_INPUTS.find(
      (e) => e.text === t && (hasServer === undefined || !e.has_server || e.has_server.includes(hasServer)),
    ) ?? null
  );
}

/** classify_invite as the fake answers it: the table's answer, or a sentence saying it has none. */
export function fakeClassify(text: string, hasServer: boolean | null): JoinInput {
  const e = fakeJoinEntry(text, hasServer);
  if (e) return { ...e.expect };
  return { kind: "invalid", code: null, server: null, hint: "The fake engine knows only the invites in ui/src/lib/fixtures/invites.json." };
}

/** One fixed grading and the numbers it is the engine's grade of (loss in percent). */
export type FakeGrade = { name: string; rtt_ms: number | null; jitter_ms: number | null; loss_pct: number | null; quality: Quality };

export const FAKE_GRADES: readonly FakeGrade[] = grades.grades as FakeGrade[];

/** The fixed grading of a simulated friend, by name. */
export function fakeGradeOf(name: string): Quality | null {
  const g = FAKE_GRADES.find((x) => x.name === name);
  return g ? { ...g.quality } : null;
}
