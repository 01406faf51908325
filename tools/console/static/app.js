// The console's entry point: find out which policy the operator holds, then draw the page the
// path names (one document for every page; links carry a card_id at most).

import { BASE, describe, session } from "./api.js";
import { cardPage } from "./card.js";
import { eventsPage } from "./events.js";
import { el, setTitle } from "./format.js";
import { dormancyPage, liabilityPage } from "./reports.js";
import { searchPage } from "./search.js";

const PAGES = {
  "": ["search", searchPage],
  "/": ["search", searchPage],
  "/card": ["card", cardPage],
  "/liability": ["liability", liabilityPage],
  "/dormancy": ["dormancy", dormancyPage],
  "/events": ["events", eventsPage],
};
const FINANCE_PAGES = new Set(["liability", "dormancy"]);

function errorPage(main, error) {
  setTitle("Cannot sign in");
  main.replaceChildren(
    el("section", { class: "error-page", id: "error-page", "aria-labelledby": "error-title" },
      el("h1", { id: "error-title" }, "The console cannot reach the operator API as you"),
      el("p", { class: "error-words" }, describe(error, null)),
      el("h2", {}, "What to do"),
      el("ul", {},
        el("li", {}, "Check which AWS identity the console runs as: the profile or environment " +
          "it was started with (aws sts get-caller-identity)."),
        el("li", {}, "Sign in again when the credentials have expired (aws sso login), then " +
          "restart the console."),
        el("li", {}, "Ask for the giftcard support or finance policy if the identity has " +
          "neither.")),
      el("p", {}, el("a", { href: `${BASE}/` }, "Try again"))));
  main.focus();
}

function showNavigation(current, policy) {
  const nav = document.querySelector("nav");
  for (const item of nav.querySelectorAll("[data-needs]")) {
    // Hidden, not just refused: support never sees finance's pages.
    item.hidden = item.dataset.needs === "finance" && policy !== "finance";
  }
  for (const link of nav.querySelectorAll("a[data-page]")) {
    if (link.dataset.page === current) link.setAttribute("aria-current", "page");
  }
  nav.hidden = false;
}

async function boot() {
  const main = document.getElementById("main");
  const path = location.pathname.slice(BASE.length);
  const [name, draw] = PAGES[path] || PAGES[""];
  let current;
  try {
    current = await session();
  } catch (error) {
    errorPage(main, error);
    return;
  }
  document.body.dataset.policy = current.policy;
  showNavigation(name, current.policy);
  const who = document.getElementById("who");
  who.replaceChildren("Signed in with the ",
    el("span", { class: `policy policy-${current.policy}` }, `${current.policy} policy`),
    current.label ? ` (${current.label})` : "",
    el("span", { class: "api" }, ` · ${current.api_url} (${current.region})`));
  if (FINANCE_PAGES.has(name) && current.policy !== "finance") {
    setTitle("Not for your policy");
    main.replaceChildren(el("h1", {}, "This page is for finance"),
      el("p", {}, "Liability and dormancy reports need the giftcard finance policy; your AWS " +
        "identity holds the support policy."));
    return;
  }
  try {
    await draw(main, current);
  } catch (error) {
    main.append(el("p", { class: "alert", role: "alert" }, describe(error, current)));
  }
}

boot();
