// Builds the dashboard into dist/: index.html and content-hashed assets (served
// immutable by quantix_lb.api.web). Run by scripts/setup (npm run build).
import { readFile, rm, mkdir, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import * as esbuild from "esbuild";

const here = new URL(".", import.meta.url).pathname;
const dist = `${here}dist`;
await rm(dist, { recursive: true, force: true });
await mkdir(`${dist}/assets`, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: ["src/main.tsx"],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  outdir: "dist/assets",
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  // @quantix-lb/client is a link to ../generated/ts: its imports of
  // @bufbuild/protobuf resolve from here, as they would for an installed package.
  preserveSymlinks: true,
  define: { "process.env.NODE_ENV": '"production"' },
  jsx: "automatic",
  legalComments: "eof",
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const script = outputs.find((p) => p.endsWith(".js"));
const style = outputs.find((p) => p.endsWith(".css"));
if (!script || !style) throw new Error(`build produced ${outputs.join(", ")}`);
const html = (await readFile(`${here}index.html`, "utf8"))
  .replace("%SCRIPT%", `/assets/${script}`)
  .replace("%STYLE%", `/assets/${style}`);
await writeFile(`${dist}/index.html`, html);
console.log(`web: built dist/ (${outputs.join(", ")})`);
