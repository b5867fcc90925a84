/** `--config FILE`, else $ROTATOR_CONFIG, else ./rotator.yaml (docs/design.md section 7). */
export function resolveConfigPath(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return option ?? env.ROTATOR_CONFIG ?? 'rotator.yaml';
}
