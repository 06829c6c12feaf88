import { avatarColor, initials } from "../lib/avatar";

export function Avatar({ name, seed, size = 40 }: { name: string; seed: string; size?: number }) {
  return (
    <div
      className="avatar"
      aria-hidden="true"
      style={{ width: size, height: size, background: avatarColor(seed), fontSize: size * 0.4 }}
    >
      {initials(name)}
    </div>
  );
}
