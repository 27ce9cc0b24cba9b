// Hash router and layout of the dashboard.

import "./style.css";
import { h } from "./dom";
import * as api from "./api";
import * as pages from "./pages";

const app = document.getElementById("app")!;

function nav(active: string): HTMLElement {
  const item = (href: string, text: string, key: string) =>
    h("a", { href, class: active === key ? "active" : "" }, text);
  return h("nav", {},
    h("span", { class: "brand" }, "llmfw"),
    item("#/overview", "Overview", "overview"),
    item("#/operators", "Operators", "operators"),
    item("#/approvals", "Approvals", "approvals"),
    h("button", { class: "logout", "data-testid": "logout", onclick: (() => {
      api.logout();
      location.hash = "#/login";
    }) as EventListener }, "Log out"),
  );
}

async function render(): Promise<void> {
  const hash = location.hash.replace(/^#/, "") || "/overview";
  const [path, qs] = hash.split("?", 2) as [string, string | undefined];
  const params = new URLSearchParams(qs ?? "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  app.replaceChildren();
  if (!api.token() || parts[0] === "login") {
    const target = parts[0] === "login" ? "#/overview" : location.hash || "#/overview";
    pages.login(app, () => {
      if (location.hash === target) void render();
      else location.hash = target;
    });
    return;
  }
  const main = h("main", { "aria-busy": "true" });
  app.append(nav(parts[0] ?? "overview"), main);
  try {
    switch (parts[0]) {
      case "operators":
        if (parts[1] && parts[2] === "graph") await pages.graph(main, parts[1]);
        else if (parts[1]) await pages.operator(main, parts[1]);
        else await pages.operators(main, params.get("q") ?? "");
        break;
      case "approvals":
        await pages.approvals(main, () => void render());
        break;
      default:
        await pages.overview(main);
    }
  } catch (e) {
    if (e instanceof api.Unauthorized) {
      api.logout();
      app.replaceChildren();
      pages.login(app, () => void render(), "Your session ended (the token was refused); sign in again.");
      return;
    }
    main.append(h("p", { class: "msg error", role: "alert" }, `Error: ${(e as Error).message}`));
  }
  main.setAttribute("aria-busy", "false");
  main.dataset.ready = "1";
}

window.addEventListener("hashchange", () => void render());
void render();
