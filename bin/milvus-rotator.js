#!/usr/bin/env node
// The installed entry point: the compiled CLI when built (the Docker image), else the TypeScript
// source, which Node 24 runs directly.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/src/cli.js', import.meta.url);
const { main } = await import(existsSync(compiled) ? compiled.href : new URL('../src/cli.ts', import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
