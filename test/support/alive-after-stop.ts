/**
 * Preloaded into a relay process (`NODE_OPTIONS=--import …`, see spawnRelay in relay-process.ts): once the relay logs
 * "relay stopped", one more line names what still keeps the process alive. A prompt exit leaves no timer.
 * Only stdout is touched; nothing is imported, so the relay runs as it always does.
 */
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  const written = (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  if (String(chunk).includes('"message":"relay stopped"')) {
    setImmediate(() => {
      const resources = process.getActiveResourcesInfo();
      write(`${JSON.stringify({ message: 'alive after stop', resources })}\n`);
    });
  }
  return written;
}) as typeof process.stdout.write;
