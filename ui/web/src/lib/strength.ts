// A small passphrase strength estimator: length, character classes, a list
// of common passwords, and repeated / sequential characters. Score 0..4.

export const STRENGTH_WORDS = ["Too weak", "Weak", "Fair", "Good", "Strong"] as const;
/** The lowest score the onboarding form accepts. */
export const MIN_SCORE = 2;

export const COMMON_PASSWORDS: readonly string[] = [
  "123456", "123456789", "12345678", "password", "qwerty", "qwerty123", "1234567", "111111",
  "1234567890", "123123", "abc123", "1234", "password1", "iloveyou", "1q2w3e4r", "000000",
  "qwertyuiop", "123321", "monkey", "dragon", "654321", "666666", "123", "myspace1",
  "a123456", "121212", "1qaz2wsx", "123qwe", "abcdef", "letmein", "sunshine", "princess",
  "football", "baseball", "welcome", "shadow", "superman", "michael", "master", "trustno1",
  "passw0rd", "starwars", "whatever", "freedom", "hello", "charlie", "admin", "login",
  "secret", "zaq12wsx", "solo", "mustang", "access", "flower", "hunter2", "changeme",
  "computer", "internet", "passphrase", "discordopus",
];

const KEYBOARD_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890"];

export interface Strength {
  score: 0 | 1 | 2 | 3 | 4;
  word: (typeof STRENGTH_WORDS)[number];
  /** Roughly how many bits of guessing the passphrase takes. */
  bits: number;
  /** A hint for the person, or "" when there is nothing to say. */
  hint: string;
}

function charsetSize(pw: string): number {
  let lower = false, upper = false, digit = false, symbol = false, other = false;
  for (const ch of pw) {
    if (/[a-z]/.test(ch)) lower = true;
    else if (/[A-Z]/.test(ch)) upper = true;
    else if (/[0-9]/.test(ch)) digit = true;
    else if (/[\x20-\x7e]/.test(ch)) symbol = true;
    else other = true;
  }
  return (lower ? 26 : 0) + (upper ? 26 : 0) + (digit ? 10 : 0) + (symbol ? 33 : 0) + (other ? 100 : 0);
}

/** 1 for a character that starts something new, less for one that continues a run or a sequence. */
function characterWeights(pw: string): number[] {
  const cps = Array.from(pw.toLowerCase());
  const w: number[] = [];
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i].codePointAt(0)!;
    const p = i > 0 ? cps[i - 1].codePointAt(0)! : -1;
    const pp = i > 1 ? cps[i - 2].codePointAt(0)! : -1;
    if (c === p) {
      w.push(0.25); // repeated: "aaaa"
    } else if (i > 1 && Math.abs(c - p) === 1 && c - p === p - pp) {
      w.push(0.25); // sequential: "abcd", "4321"
    } else if (i > 1 && keyboardStep(cps[i - 2], cps[i - 1], cps[i])) {
      w.push(0.25); // keyboard walk: "qwer", "asdf"
    } else if (i > 1 && cps[i] === cps[i - 2] && cps[i - 1] !== cps[i]) {
      w.push(0.5); // alternation: "ababab"
    } else {
      w.push(1);
    }
  }
  return w;
}

function keyboardStep(a: string, b: string, c: string): boolean {
  const s = a + b + c;
  return KEYBOARD_ROWS.some((row) => row.includes(s) || [...row].reverse().join("").includes(s));
}

const LEET: Record<string, string> = { "0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i" };

/** Undoes common "l33t" substitutions ("1" becomes `one`, "i" or "l"), keeping the length. */
function unleet(s: string, one: string): string {
  let out = "";
  for (const ch of s) out += ch === "1" ? one : (LEET[ch] ?? ch);
  return out;
}

/** Estimates a passphrase's strength. `userWords` (e.g. the display name) count as guessable. */
export function estimateStrength(pw: string, userWords: readonly string[] = []): Strength {
  const make = (score: Strength["score"], bits: number, hint: string): Strength => ({
    score,
    word: STRENGTH_WORDS[score],
    bits: Math.round(bits),
    hint,
  });
  if (!pw) return make(0, 0, "Choose a passphrase.");
  const lower = pw.toLowerCase();
  const variants = [lower, unleet(lower, "i"), unleet(lower, "l")];
  for (const v of variants) {
    const stripped = v.replace(/[\d\W_]+$/u, "").replace(/^[\d\W_]+/u, "");
    if (COMMON_PASSWORDS.includes(v) || (stripped.length >= 3 && COMMON_PASSWORDS.includes(stripped))) {
      return make(0, 0, "This is one of the most common passwords.");
    }
  }
  const size = charsetSize(pw);
  const perChar = Math.log2(Math.max(size, 2));
  const weights = characterWeights(pw);
  let effective = weights.reduce((a, b) => a + b, 0);
  let hint = "";
  if (weights.filter((x) => x < 1).length > weights.length / 3) {
    hint = "Avoid repeated or sequential characters.";
  }
  // Common passwords and the person's own words inside a longer phrase count as one character.
  const guessable = [...COMMON_PASSWORDS.filter((c) => c.length >= 4), ...userWords.map((w) => w.toLowerCase()).filter((w) => w.length >= 3)];
  for (const word of guessable) {
    // Look in the text as typed and with "l33t" substitutions undone (same length).
    const hay = variants.find((v) => v.includes(word));
    if (!hay) continue;
    let from = 0;
    for (;;) {
      const at = hay.indexOf(word, from);
      if (at < 0) break;
      const span = weights.slice(at, at + word.length).reduce((a, b) => a + b, 0);
      effective -= Math.max(0, span - 1);
      from = at + word.length;
      if (!hint) hint = "Avoid common words and your own name.";
    }
  }
  const bits = Math.max(0, effective) * perChar;
  let score: Strength["score"];
  if (bits < 30) score = 0;
  else if (bits < 45) score = 1;
  else if (bits < 60) score = 2;
  else if (bits < 80) score = 3;
  else score = 4;
  if (!hint && score < MIN_SCORE) {
    hint = pw.length < 12 ? "Make it longer: a few unrelated words work well." : "Add more unrelated words.";
  }
  return make(score, bits, hint);
}
