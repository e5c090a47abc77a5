/** Streams that remember how they failed, so a failed upload can say whose fault it was (source or sink). */

/** A stream that remembers the error it failed with, so that a failed upload can say whose fault it was. */
export function watchReads(stream: ReadableStream<Uint8Array>): { stream: ReadableStream<Uint8Array>; failure: () => unknown } {
  const reader = stream.getReader();
  let failure: unknown;
  const watched = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (error) {
          failure = error;
          throw error;
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  return { stream: watched, failure: () => failure };
}

