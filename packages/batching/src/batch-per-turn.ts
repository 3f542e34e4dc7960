/** At most this many calls go into one run of `many`, the largest batch `POST /api/tasks/batch` takes. */
const MAX_TOGETHER = 1000;

/**
 * The one batcher of the service (docs/performance.md, "Calls made together share one run"): one
 * function for many concurrent callers. The calls made in the same turn of the event loop are
 * answered by one run of `many` (their items in call order, its results in the same order), a call
 * alone by `one`. Under load a turn holds the requests whose bytes arrived together, so their
 * statements and Redis writes go as one, at a fraction of the cost of one each; a lone call waits
 * for nothing but the end of its turn. Domain functions never batch: the wiring that builds an
 * app's dependencies wraps a plain `one` and `many` with this.
 *
 * If `many` fails, `retryAlone(error)` says whether each item is tried again by itself, so that an
 * error that belongs to one item fails only its own caller; otherwise every caller gets the error.
 */
export function batchPerTurn<T, R>(
  one: (item: T) => Promise<R>,
  many: (items: T[]) => Promise<R[]>,
  retryAlone: (error: unknown) => boolean = () => false,
): (item: T) => Promise<R> {
  let waiting: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  let flushing: NodeJS.Immediate | undefined;

  const flush = () => {
    const calls = waiting;
    waiting = [];
    flushing = undefined;
    if (calls.length === 1) {
      const [call] = calls;
      one(call!.item).then(call!.resolve, call!.reject);
      return;
    }
    many(calls.map((call) => call.item)).then(
      (results) => {
        for (const [index, call] of calls.entries()) call.resolve(results[index]!);
      },
      (error: unknown) => {
        const alone = retryAlone(error);
        for (const call of calls) {
          if (alone) one(call.item).then(call.resolve, call.reject);
          else call.reject(error);
        }
      },
    );
  };

  return (item) =>
    new Promise<R>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (waiting.length >= MAX_TOGETHER) {
        clearImmediate(flushing);
        flush();
      } else {
        flushing ??= setImmediate(flush);
      }
    });
}
