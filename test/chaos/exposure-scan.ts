/**
 * The exposure search of test/helpers/exposure.ts (findExposures: the same forms, built the same
 * way, with the same labels), made fast enough for a soak: thousands of passwords times a dozen
 * forms against tens of megabytes of logs, Redis data and the append-only file. findExposures
 * calls `includes` once per form and haystack; this indexes every form by its last KEY characters
 * (always inside the password-dependent part of a form) and slides one window over each haystack,
 * so the cost is linear in the text whatever the number of passwords. test/chaos/checker.test.ts
 * pins that both find the same things.
 */
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { exposureForms } from '../helpers/exposure.ts';

/** Window length: every form is at least 8 characters (findExposures skips shorter passwords). */
const KEY = 8;

export interface ExposureHit {
  /** Which haystack (its name in the report). */
  source: string;
  /** Which form: plain, base64, base64url, url-encoded, json-escaped, user:password, base64(user:password). */
  form: string;
}

export class ExposureScanner {
  readonly formCount: number;
  readonly maxFormLength: number;
  private readonly byKey = new Map<string, { form: string; label: string }[]>();

  constructor(passwords: Iterable<string>, usernames: Iterable<string> = []) {
    const forms = exposureForms(passwords, usernames);
    let longest = KEY;
    for (const [form, label] of forms) {
      const key = form.slice(-KEY);
      const list = this.byKey.get(key);
      if (list) list.push({ form, label });
      else this.byKey.set(key, [{ form, label }]);
      longest = Math.max(longest, form.length);
    }
    this.formCount = forms.size;
    this.maxFormLength = longest;
  }

  /** The labels of every form found in `text` (each once). */
  scanText(text: string): Set<string> {
    const found = new Set<string>();
    const byKey = this.byKey;
    for (let end = KEY; end <= text.length; end++) {
      const candidates = byKey.get(text.slice(end - KEY, end));
      if (!candidates) continue;
      for (const { form, label } of candidates) {
        const start = end - form.length;
        if (start >= 0 && text.startsWith(form, start)) found.add(label);
      }
    }
    return found;
  }

  /** Scans named haystacks; one hit per haystack and form. */
  scan(haystacks: Iterable<{ source: string; text: string }>): ExposureHit[] {
    const hits: ExposureHit[] = [];
    for (const { source, text } of haystacks) for (const form of this.scanText(text)) hits.push({ source, form });
    return hits;
  }

  /** Scans a file of any size in chunks that overlap by the longest form, read as latin1 (bytes as characters). */
  scanFile(path: string, source: string = path): ExposureHit[] {
    const size = statSync(path).size;
    const chunk = 8 * 1024 * 1024;
    const overlap = this.maxFormLength;
    const fd = openSync(path, 'r');
    const found = new Set<string>();
    try {
      const buffer = Buffer.alloc(chunk + overlap);
      let carried = 0;
      let position = 0;
      while (position < size) {
        const read = readSync(fd, buffer, carried, chunk, position);
        if (read <= 0) break;
        position += read;
        const length = carried + read;
        for (const form of this.scanText(buffer.toString('latin1', 0, length))) found.add(form);
        carried = Math.min(overlap, length);
        buffer.copy(buffer, 0, length - carried, length);
      }
    } finally {
      closeSync(fd);
    }
    return [...found].map((form) => ({ source, form }));
  }
}
