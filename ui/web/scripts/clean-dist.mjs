// Removes the previous build output but keeps dist/.placeholder (tracked in git).
import { mkdirSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
mkdirSync(dist, { recursive: true });
for (const name of readdirSync(dist)) {
  if (name === ".placeholder") continue;
  rmSync(join(dist, name), { recursive: true, force: true });
}
if (!existsSync(join(dist, ".placeholder"))) writeFileSync(join(dist, ".placeholder"), "built by make ui\n");
