import { checkConfig } from '../config/check.ts';
import { EXIT, type ExitCode } from '../rotation/exit-code.ts';

/** `config check`: exit 0 with a summary, or 2 with one line per problem (key path and reason); warnings on stderr either way. */
export function runConfigCheck(path: string, io: { out: (line: string) => void; err: (line: string) => void }): ExitCode {
  const result = checkConfig(path, process.env);
  for (const line of result.lines) (result.ok ? io.out : io.err)(line);
  for (const line of result.warnings) io.err(line);
  return result.ok ? EXIT.ok : EXIT.usage;
}
