import { main } from './cli.ts';

// The `moat` command's entry point; cli.ts only exports main, so the desktop shell can import it without running it.
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
