/**
 * The playground in a real browser: headless Chromium (Debian `chromium`, installed when
 * missing) driven by `playwright-core`, against the real server. Every request the page
 * makes to anywhere but this server is blocked and recorded: the page must load with no
 * internet. It loads at `/graphql` and `/graphql/playground`, takes a token, runs a query
 * with it and shows the result; without a token the result shows the refusal.
 */
import { chromium, type Page } from "playwright-core";
import { ensureTool } from "../_helpers/system.ts";
import { assert, assertEquals, SERVER_TEST, withGraphqlServer } from "./_setup.ts";

const QUERY = `{
  aggregate(aggregateType: "patient", aggregateId: "p-42") {
    aggregateId
    version
    state
  }
}`;
const STEP_TIMEOUT_MS = 30_000;

/** The page's document, inside functions that run in the browser. */
// deno-lint-ignore no-explicit-any
type BrowserDocument = any;

/** Where Debian puts the browser. */
async function chromiumPath(): Promise<string> {
  await ensureTool("chromium", "chromium");
  const found = await new Deno.Command("sh", {
    args: ["-c", "command -v chromium"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(found.stdout).trim();
}

/** The text of one of GraphiQL's editors (CodeMirror 5 keeps it on the element). */
function editorText(page: Page, selector: string): Promise<string> {
  return page.evaluate((css) => {
    const document: BrowserDocument = (globalThis as { document?: unknown }).document;
    const element = document.querySelector(css);
    return element?.CodeMirror?.getValue() ?? "";
  }, `${selector} .CodeMirror`);
}

/** Put `query` in the query editor, run it, and wait until the response shows `expect`. */
async function runQuery(page: Page, query: string, expect: string): Promise<string> {
  await page.evaluate((text) => {
    const document: BrowserDocument = (globalThis as { document?: unknown }).document;
    const editor = document.querySelector(".graphiql-query-editor .CodeMirror");
    editor.CodeMirror.setValue(text);
  }, query);
  await page.click(".graphiql-execute-button");
  await page.waitForFunction(
    (part) => {
      const document: BrowserDocument = (globalThis as { document?: unknown }).document;
      const response = document.querySelector(".graphiql-response .CodeMirror");
      return (response?.CodeMirror?.getValue() ?? "").includes(part);
    },
    expect,
    { timeout: STEP_TIMEOUT_MS },
  );
  return await editorText(page, ".graphiql-response");
}

Deno.test(
  "graphql playground: loads offline in headless Chromium, runs a query with a token, shows the result",
  SERVER_TEST,
  async () => {
    const executablePath = await chromiumPath();
    await withGraphqlServer(async (s) => {
      await s.seed("patient", "p-42", { name: "Ada" }, "patient-added");
      const token = await s.token({ group: "ui", user: "browser" });
      const browser = await chromium.launch({
        executablePath,
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        timeout: STEP_TIMEOUT_MS,
      });
      try {
        const context = await browser.newContext();
        const elsewhere: string[] = [];
        const ours = new URL(s.base).host;
        await context.route("**/*", (route) => {
          const url = new URL(route.request().url());
          if (url.host === ours) return route.continue();
          elsewhere.push(url.href);
          return route.abort("internetdisconnected");
        });
        const page = await context.newPage();
        page.setDefaultTimeout(STEP_TIMEOUT_MS);
        const problems: string[] = [];
        page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
        page.on("console", (message) => {
          if (message.type() === "error" && !/401|Unauthorized/i.test(message.text())) {
            problems.push(`console: ${message.text()}`);
          }
        });
        const failedAssets: string[] = [];
        page.on("response", (response) => {
          if (response.url().includes("/graphql/assets/") && response.status() !== 200) {
            failedAssets.push(`${response.status()} ${response.url()}`);
          }
        });

        for (const path of ["/graphql", "/graphql/playground"]) {
          const response = await page.goto(`${s.base}${path}`, { waitUntil: "load" });
          assertEquals(response?.status(), 200, path);
          await page.waitForSelector(".graphiql-container .graphiql-query-editor .CodeMirror");
          assertEquals(await page.title(), "EventDBX GraphQL playground");
        }

        // Without a token the query is refused, and the page says so.
        await page.fill("#dbx-token", "");
        await page.click("#dbx-token-apply");
        await page.waitForSelector(".graphiql-query-editor .CodeMirror");
        const refused = await runQuery(page, QUERY, "UNAUTHENTICATED");
        assert(!refused.includes("Ada"), refused);

        // With a token: the result shows the aggregate.
        await page.fill("#dbx-token", token);
        await page.click("#dbx-token-apply");
        await page.waitForFunction(
          () =>
            ((globalThis as { document?: unknown }).document as BrowserDocument)
              .getElementById("dbx-token-status")?.textContent === "token set",
        );
        await page.waitForSelector(".graphiql-query-editor .CodeMirror");
        const shown = await runQuery(page, QUERY, '"aggregateId": "p-42"');
        const result = JSON.parse(shown);
        assertEquals(result.data.aggregate, {
          aggregateId: "p-42",
          version: 1,
          state: { name: "Ada" },
        });
        // With a valid token GraphiQL's introspection worked: the docs know the schema.
        const introspected = await page.evaluate(async (t) => {
          const answer = await fetch("/graphql", {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${t}` },
            body: JSON.stringify({ query: "{ __schema { queryType { name } } }" }),
          });
          return await answer.json();
        }, token);
        assertEquals(introspected.data.__schema.queryType.name, "Query");

        const picture = await Deno.makeTempFile({ prefix: "dbx-playground-", suffix: ".png" });
        await page.screenshot({ path: picture });
        assert((await Deno.stat(picture)).size > 10_000, "the screenshot shows something");
        await Deno.remove(picture);

        assertEquals(elsewhere, [], "the page asked for nothing outside this server");
        assertEquals(failedAssets, []);
        assertEquals(problems, []);
      } finally {
        await browser.close();
      }
    });
  },
);
