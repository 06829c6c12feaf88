// Makes sure dist/.placeholder survives the build (vite runs with emptyOutDir: false).
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
mkdirSync(dist, { recursive: true });
const p = join(dist, ".placeholder");
if (!existsSync(p)) writeFileSync(p, "built by make ui\n");
