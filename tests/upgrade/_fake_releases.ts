/**
 * A fake GitHub releases API on 127.0.0.1 (port 0) for the upgrade and installer tests. It
 * serves a small version table, with archives whose "binary" is a two-line shell script
 * that prints a version (clearly not a real dbx), a SHA256SUMS per release, and on demand
 * error answers: rate limiting, server errors, malformed JSON, slow answers.
 */
import { createHash } from "node:crypto";
import { writeTarGz } from "../maintenance/_helpers.ts";

export type Mode = "ok" | "ratelimit" | "429" | "500" | "malformed" | "slow";

export interface FakeReleases {
  /** Base URL of the API (what DBX_RELEASES_URL names). */
  api: string;
  /** Base URL of the downloads (what the installers' DBX_DOWNLOAD_URL names). */
  downloads: string;
  mode: Mode;
  /** Requests received, as "METHOD path". */
  requests: string[];
  close(): Promise<void>;
}

/** A shell script standing in for a dbx binary of `version`. */
export function fakeBinary(version: string, exitCode = 0): Uint8Array {
  return new TextEncoder().encode(
    `#!/bin/sh\n# A stand-in for the dbx binary in tests: not a real dbx.\n` +
      `echo "dbx ${version} (fake release binary for tests)"\nexit ${exitCode}\n`,
  );
}

const TARGET = Deno.build.target;

interface FakeRelease {
  tag: string;
  prerelease?: boolean;
  /** Publish a wrong checksum for the archive. */
  badChecksum?: boolean;
  /** The archive's binary fails to run. */
  broken?: boolean;
  /** Targets with an archive (default: this machine's). */
  targets?: string[];
}

/** The version table the fake API serves, newest first. */
export const VERSION_TABLE: FakeRelease[] = [
  { tag: "v0.4.0-rc.1", prerelease: true },
  { tag: "v0.3.1", broken: true },
  { tag: "v0.3.0", badChecksum: true },
  {
    tag: "v0.2.0",
    targets: [TARGET, "aarch64-unknown-linux-gnu", "x86_64-apple-darwin", "aarch64-apple-darwin"],
  },
  { tag: "v0.1.0" },
  { tag: "v0.0.9" },
];
/** What `/latest` answers. */
export const LATEST = "v0.2.0";

function sha(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function startFakeReleases(): FakeReleases {
  const files = new Map<string, Uint8Array<ArrayBuffer>>(); // "/download/<tag>/<name>"
  for (const r of VERSION_TABLE) {
    const sums: string[] = [];
    for (const target of r.targets ?? [TARGET]) {
      const name = `dbx-${target}.tar.gz`;
      const archive = writeTarGz([{
        name: "dbx",
        data: fakeBinary(r.tag.slice(1), r.broken ? 3 : 0),
      }]);
      files.set(`/download/${r.tag}/${name}`, archive as Uint8Array<ArrayBuffer>);
      sums.push(`${r.badChecksum ? "0".repeat(64) : sha(archive)}  ${name}`);
    }
    files.set(
      `/download/${r.tag}/SHA256SUMS`,
      new TextEncoder().encode(sums.join("\n") + "\n") as Uint8Array<ArrayBuffer>,
    );
  }
  const state = { mode: "ok" as Mode, requests: [] as string[] };
  let port = 0;
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    state.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const origin = `http://127.0.0.1:${port}`;
    if (url.pathname.startsWith("/download/")) {
      // Downloads of the installers' layout: /download/<tag>/<asset> and /latest/download/<asset>.
      const body = files.get(url.pathname);
      return body ? new Response(body) : new Response("not found", { status: 404 });
    }
    if (url.pathname.startsWith("/latest/download/")) {
      const asset = url.pathname.slice("/latest/download/".length);
      const body = files.get(`/download/${LATEST}/${asset}`);
      return body ? new Response(body) : new Response("not found", { status: 404 });
    }
    switch (state.mode) {
      case "ratelimit":
        return Response.json({ message: "API rate limit exceeded" }, {
          status: 403,
          headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1900000000" },
        });
      case "429":
        return new Response("slow down", { status: 429, headers: { "retry-after": "30" } });
      case "500":
        return new Response("oops", { status: 500, statusText: "Internal Server Error" });
      case "malformed":
        return new Response("<html>not json</html>", { headers: { "content-type": "text/html" } });
      case "slow":
        await new Promise((r) => setTimeout(r, 3000));
        break;
    }
    const release = (r: FakeRelease) => ({
      tag_name: r.tag,
      name: r.tag,
      draft: false,
      prerelease: r.prerelease ?? false,
      published_at: "2026-11-01T10:00:00Z",
      assets: [
        ...(r.targets ?? [TARGET]).map((t) => `dbx-${t}.tar.gz`),
        "SHA256SUMS",
      ].map((name) => ({
        name,
        size: files.get(`/download/${r.tag}/${name}`)?.length ?? 0,
        browser_download_url: `${origin}/download/${r.tag}/${name}`,
      })),
    });
    const path = url.pathname.replace(/^\/repos\/[^/]+\/[^/]+/, "");
    if (path === "/releases") {
      const perPage = Number(url.searchParams.get("per_page") ?? 30);
      return Response.json([
        { tag_name: "v9.9.9-draft", draft: true, assets: [] },
        ...VERSION_TABLE.map(release),
        { tag_name: "nightly", draft: false, assets: [] },
      ].slice(0, perPage + 2));
    }
    if (path === "/releases/latest") {
      return Response.json(release(VERSION_TABLE.find((r) => r.tag === LATEST)!));
    }
    const tag = /^\/releases\/tags\/(.+)$/.exec(path)?.[1];
    if (tag) {
      const found = VERSION_TABLE.find((r) => r.tag === decodeURIComponent(tag));
      return found
        ? Response.json(release(found))
        : Response.json({ message: "Not Found" }, { status: 404 });
    }
    return Response.json({ message: "Not Found" }, { status: 404 });
  });
  port = server.addr.port;
  return {
    api: `http://127.0.0.1:${port}/repos/eventdbx/dbx/releases`,
    downloads: `http://127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(m: Mode) {
      state.mode = m;
    },
    requests: state.requests,
    close: () => server.shutdown(),
  };
}
