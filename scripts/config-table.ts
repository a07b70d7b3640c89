// Prints the README's configuration table from the schema: `npm run config-table`.
import { configTable } from '../src-relay/config/docs.ts';

process.stdout.write(`${configTable()}\n`);
