import type { Strength } from "../lib/strength";

export function StrengthMeter({ strength, empty }: { strength: Strength; empty: boolean }) {
  return (
    <div className={`strength s${strength.score}`} data-testid="setup-strength" data-score={strength.score} aria-live="polite">
      <div className="strength-bars" aria-hidden="true">
        {[0, 1, 2, 3].map((i) => (
          <span key={i} className={!empty && i < Math.max(1, strength.score) ? "on" : ""} />
        ))}
      </div>
      <span className="strength-word">{empty ? "" : strength.word}</span>
      {!empty && strength.hint && <span className="strength-hint">{strength.hint}</span>}
    </div>
  );
}
