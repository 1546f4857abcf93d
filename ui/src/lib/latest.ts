// Engine calls whose answers may come back out of order (one per keystroke, one a second): only
// the answer to the newest call is delivered; an older one that arrives later is dropped.

export type Latest<A extends unknown[]> = {
  /** start a call; a call still under way no longer delivers */
  call(...args: A): void;
  /** deliver nothing more (the component is gone) */
  cancel(): void;
};

export function latestOnly<A extends unknown[], R>(
  run: (...args: A) => Promise<R>,
  deliver: (result: R) => void,
  failed: (err: unknown) => void = () => {},
): Latest<A> {
  let newest = 0;
  return {
    call(...args: A) {
      const mine = ++newest;
      let p: Promise<R>;
      try {
        p = run(...args);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (r) => {
          if (mine === newest) deliver(r);
        },
        (err) => {
          if (mine === newest) failed(err);
        },
      );
    },
    cancel() {
      newest++;
    },
  };
}
