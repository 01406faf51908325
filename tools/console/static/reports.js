// Finance's pages: liability (latest figures, the last audit, its mismatches, a chart per currency
// over the audited dates) and dormancy (outstanding per time since last activity, per currency).

import { ApiError, cardUrl, describe, get, post } from "./api.js";
import { announce, day, el, headings, money, moneyShort, setTitle, time } from "./format.js";
import { barChart, columnChart } from "./charts.js";

const RANGES = [7, 31, 92];
const BUCKETS = ["<1y", "1-2y", "2-3y", "3-5y", ">=5y"];
const BUCKET_WORDS = {
  "<1y": "under 1 year", "1-2y": "1–2 years", "2-3y": "2–3 years", "3-5y": "3–5 years",
  ">=5y": "5 years or more",
};

async function latestAudit() {
  try {
    return await get("/admin/audit/latest");
  } catch (error) {
    if (error instanceof ApiError && error.code === "audit_not_found") return null;
    throw error;
  }
}

function runAuditButton(session, after) {
  const status = el("span", { class: "hint", role: "status" });
  const button = el("button", { type: "button", id: "run-audit", on: {
    click: async () => {
      button.disabled = true;
      status.textContent = "Running the audit…";
      try {
        const answer = await post("/admin/audit/run", {});
        status.textContent = answer.status === "finished"
          ? "Audit finished." : "Audit started: it finishes within minutes; reload then.";
        announce(status.textContent);
        if (answer.status === "finished") await after();
      } catch (error) {
        status.textContent = describe(error, session);
      } finally {
        button.disabled = false;
      }
    },
  } }, "Run the audit now");
  return el("p", { class: "run-audit" }, button, " ", status);
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

/** Liability on each audited day of the range (days without an audit answer 404 and are left
 * out), oldest first. */
async function liabilitySeries(latest, days) {
  const end = new Date(`${latest.as_of.slice(0, 10)}T00:00:00Z`);
  const dates = [];
  for (let back = days - 1; back >= 0; back -= 1) {
    dates.push(isoDay(new Date(end.getTime() - back * 86_400_000)));
  }
  const found = [];
  let next = 0;
  const worker = async () => {
    while (next < dates.length) {
      const date = dates[next];
      next += 1;
      try {
        found.push({ date, report: await get("/admin/reports/liability", { date }) });
      } catch (error) {
        if (!(error instanceof ApiError && error.code === "audit_not_found")) throw error;
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return found.sort((a, b) => a.date.localeCompare(b.date));
}

function figuresTable(liability) {
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Latest figures" },
    el("table", { id: "liability-figures" },
      el("caption", {}, "Liability as of the audit of ", time(liability.as_of)),
      headings(["Currency", "Cards", "Spendable", "Held", "Outstanding (spendable + held)"],
        ["Cards", "Spendable", "Held", "Outstanding (spendable + held)"]),
      el("tbody", {}, liability.currencies.map((row) => el("tr", {},
        el("th", { scope: "row" }, row.currency),
        el("td", { class: "num" }, String(row.cards)),
        el("td", { class: "num" }, money(row.spendable)),
        el("td", { class: "num" }, money(row.held)),
        el("td", { class: "num" }, el("strong", {}, money(row.outstanding))))))));
}

function auditSummary(audit) {
  const mismatches = audit.mismatches || [];
  return el("section", { "aria-labelledby": "audit-title", id: "last-audit" },
    el("h2", { id: "audit-title" }, "Last audit"),
    el("p", {}, "Finished ", time(audit.finished_at), ", as of ", time(audit.as_of), ": ",
      `${audit.cards_checked} cards and ${audit.entries_checked} ledger entries checked.`),
    mismatches.length
      ? el("div", { class: "alert", role: "alert", id: "mismatches" },
        el("h3", {}, `${mismatches.length} mismatch(es): a balance differs from its ledger`),
        el("ul", {}, mismatches.map((item) => el("li", {},
          el("a", { href: cardUrl(item.card_id) }, item.card_id), `: ${item.problem}`))))
      : el("p", { class: "ok", id: "mismatches" },
        "No mismatches: every balance and held amount equals the sum of its ledger entries."),
    audit.expiring
      ? el("p", {}, `Cards expiring within 30 days: ${audit.expiring["30d"]}; within 90 days: ` +
        `${audit.expiring["90d"]}.`)
      : "");
}

export async function liabilityPage(main, session) {
  setTitle("Liability");
  const body = el("div");
  const range = el("select", { id: "range" },
    RANGES.map((days) => el("option", { value: days, selected: days === 31 }, `${days} days`)));
  const charts = el("div", { id: "liability-charts", "aria-live": "polite" });

  async function drawCharts(latest) {
    charts.replaceChildren(el("p", {}, "Loading the audited dates…"));
    const series = await liabilitySeries(latest, Number(range.value));
    const currencies = [...new Set(series.flatMap((point) =>
      point.report.currencies.map((row) => row.currency)))].sort();
    charts.replaceChildren(...currencies.map((currency) => {
      const points = series.map(({ date, report }) => {
        const row = report.currencies.find((item) => item.currency === currency);
        return {
          label: day(date),
          parts: row ? [Number(row.spendable.value), Number(row.held.value)] : [0, 0],
        };
      });
      const format = (value) => money({ value, currency });
      return columnChart({
        title: `Outstanding in ${currency}, per audited date`,
        summary: `${points.length} audited date(s); latest ${format(points.at(-1).parts[0] + points.at(-1).parts[1])}.`,
        points,
        series: [{ name: "Spendable", className: "part-a" }, { name: "Held", className: "part-b" }],
        format,
        formatAxis: (value) => moneyShort(value, currency),
      });
    }));
    if (!currencies.length) charts.replaceChildren(el("p", {}, "No card holds money yet."));
  }

  async function draw() {
    const latest = await latestAudit();
    if (!latest) {
      body.replaceChildren(el("p", { id: "no-audit" }, "No audit has finished yet: the nightly " +
        "audit writes the first figures, or run it now."), runAuditButton(session, draw));
      return;
    }
    range.onchange = () => drawCharts(latest.liability).catch((error) => {
      charts.replaceChildren(el("p", { class: "alert", role: "alert" }, describe(error, session)));
    });
    body.replaceChildren(
      auditSummary(latest),
      runAuditButton(session, draw),
      el("section", { "aria-labelledby": "figures-title" },
        el("h2", { id: "figures-title" }, "Latest figures"), figuresTable(latest.liability)),
      el("section", { "aria-labelledby": "chart-title" },
        el("h2", { id: "chart-title" }, "Over the audited dates"),
        el("p", {}, el("label", { for: "range" }, "Show the last "), range),
        charts));
    await drawCharts(latest.liability);
  }

  main.replaceChildren(el("h1", {}, "Liability"),
    el("p", { class: "lead" }, "What the programme owes card holders (outstanding = spendable + " +
      "held), over active and frozen cards, from the nightly audit."), body);
  await draw();
}

export async function dormancyPage(main, session) {
  setTitle("Dormancy");
  main.replaceChildren(el("h1", {}, "Dormancy"),
    el("p", { class: "lead" }, "Outstanding money by time since the card's last activity, for " +
      "breakage estimates and unclaimed-property filings."));
  let report;
  try {
    report = await get("/admin/reports/dormancy");
  } catch (error) {
    if (error instanceof ApiError && error.code === "audit_not_found") {
      main.append(el("p", { id: "no-audit" }, "No audit has finished yet: the nightly audit " +
        "writes the first figures."), runAuditButton(session, () => dormancyPage(main, session)));
      return;
    }
    throw error;
  }
  main.append(el("p", {}, "From the audit as of ", time(report.as_of), "."));
  if (!report.currencies.length) main.append(el("p", {}, "No card holds money yet."));
  for (const currency of report.currencies) {
    const byBucket = new Map(currency.buckets.map((bucket) => [bucket.bucket, bucket]));
    const rows = BUCKETS.map((name) => {
      const bucket = byBucket.get(name);
      return {
        label: name.replace(">=", "≥"),
        value: bucket ? Number(bucket.outstanding.value) : 0,
        note: `${bucket ? bucket.cards : 0} card(s), ${BUCKET_WORDS[name]}`,
      };
    });
    const format = (value) => money({ value, currency: currency.currency });
    main.append(el("section", { class: "dormancy", dataset: { currency: currency.currency } },
      el("h2", {}, currency.currency),
      barChart({
        title: `Outstanding in ${currency.currency} by time since last activity`,
        summary: rows.map((row) => `${BUCKET_WORDS[row.label.replace("≥", ">=")]}: ${format(row.value)}`).join("; "),
        rows,
        format,
      })));
  }
}
