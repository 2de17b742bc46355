/**
 * Which methods a path has on an HTTP app, for telling 405 (with `Allow`) from 404: the same
 * answer on every Hono surface (REST, the Admin API).
 */

/** A route as Hono lists it in `app.routes`. */
export interface RouteEntry {
  method: string;
  path: string;
}

/**
 * A function giving the methods `routes` declare for a path (HEAD wherever GET is), sorted;
 * empty when no route matches. The table is built on first use, once every route is
 * registered.
 *
 * @example
 * ```ts
 * const allowed = allowedMethods(() => [{ method: "GET", path: "/v1/items/:id" }]);
 * allowed("/v1/items/7"); // ["GET", "HEAD"]
 * allowed("/v1/nope"); // []
 * ```
 */
export function allowedMethods(routes: () => readonly RouteEntry[]): (path: string) => string[] {
  let table: { pattern: RegExp; method: string }[] | undefined;
  return (path) => {
    table ??= routes()
      .filter((r) => r.method !== "ALL")
      .map((r) => ({ pattern: routePattern(r.path), method: r.method }));
    const allowed = new Set(table.filter((r) => r.pattern.test(path)).map((r) => r.method));
    if (allowed.has("GET")) allowed.add("HEAD");
    return [...allowed].sort();
  };
}

/** A Hono path (`/v1/aggregates/:aggregate_type`) as a whole-path regular expression. */
function routePattern(path: string): RegExp {
  const source = path.split("/").map((part) =>
    part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  ).join("/");
  return new RegExp(`^${source}$`);
}
