// UTF-8 byte counting for the 8 KiB message limit.

export const MAX_MESSAGE_BYTES = 8192;
/** The counter appears from here on. */
export const COUNTER_FROM_BYTES = 7168;

/** The number of bytes `s` takes in UTF-8 (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

export interface LimitInfo {
  bytes: number;
  /** Bytes left (negative when over). */
  remaining: number;
  over: boolean;
  showCounter: boolean;
}

export function limitInfo(text: string, max = MAX_MESSAGE_BYTES, from = COUNTER_FROM_BYTES): LimitInfo {
  const bytes = utf8Length(text);
  return { bytes, remaining: max - bytes, over: bytes > max, showCounter: bytes >= from };
}
