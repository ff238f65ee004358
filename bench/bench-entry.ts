/** Runs a bench to its end; a failure is printed and exits 1, so that a script running benches sees it. */
export function exitOnFailure(run: Promise<unknown>): void {
  run.catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
