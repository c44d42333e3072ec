"""Run axe-core (vendored from npm by bin/build-js) on a page; list what fails."""

from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
SERIOUS = ("serious", "critical")


def axe_violations(page) -> list[str]:
    """Return the page's serious and critical WCAG A/AA violations, readable."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa"]},
            });
            return r.violations.map((v) => ({
                id: v.id, impact: v.impact, count: v.nodes.length,
                first: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " " +
                    (n.failureSummary || "").replace(/\\s+/g, " ").slice(0, 160)),
            }));
        }"""
    )
    return [
        f"{v['id']} ({v['impact']}, {v['count']} elements): {v['first']}"
        for v in result
        if v["impact"] in SERIOUS
    ]
