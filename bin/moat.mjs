#!/usr/bin/env node
// The `moat` command: runs the TypeScript CLI through tsx's loader (no build step for the headless relay).
import { register } from 'tsx/esm/api';

register();
await import('../src-relay/moat.ts');
