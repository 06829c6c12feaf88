import { IconShield } from "./Icons";

/** The small shield shown next to verified contacts. */
export function VerifiedBadge({ testId = "verified-badge", size = 14 }: { testId?: string; size?: number }) {
  return (
    <span className="verified-badge" data-testid={testId} title="Verified safety number" aria-label="Verified">
      <IconShield size={size} />
    </span>
  );
}
