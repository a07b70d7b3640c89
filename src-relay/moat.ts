import { main } from './cli.ts';
import { EXIT_FAILED, stdoutFailure } from './cli/io.ts';

// The `moat` command's entry point; cli.ts only exports main, so the desktop shell can import it without running it.
// Output lost to a failing standard output (a full disk under a redirect) is a failure; a reader that left is not.
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code === 0 && stdoutFailure() !== null ? EXIT_FAILED : code;
});
