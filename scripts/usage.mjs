// `--help` for the scripts here: their usage is the comment block at the top of each file.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Prints the leading `//` comment block of the script at `scriptUrl` and exits, when `--help` was asked. */
export function helpWhenAsked(scriptUrl, argv = process.argv.slice(2)) {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  const lines = readFileSync(fileURLToPath(scriptUrl), 'utf8').split('\n');
  const usage = [];
  for (const line of lines.slice(lines[0]?.startsWith('#!') ? 1 : 0)) {
    if (!line.startsWith('//')) break;
    usage.push(line.replace(/^\/\/ ?/, ''));
  }
  console.log(usage.join('\n'));
  process.exit(0);
}
